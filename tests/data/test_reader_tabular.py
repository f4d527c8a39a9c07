"""The tabular reader on NSL-KDD and on small broken CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siamese.data import load_source
from siamese.data.tabular import detect_header
from siamese.errors import DataError


def _labels_in(path: Path) -> set[str]:
    return {line.split(",")[-2] for line in path.read_text().splitlines() if line}


def test_nsl_kdd_train_and_test(shared_data: Path) -> None:
    folder = shared_data / "nsl-kdd"
    train_file, test_file = folder / "KDDTrain+_20Percent.txt", folder / "KDDTest+.txt"
    ds = load_source("tabular", path=str(train_file), test_path=str(test_file), preset="nsl-kdd")
    assert (ds.split == "train").sum() == 25192 and (ds.split == "test").sum() == 22544
    assert {ds.class_names[c] for c in ds.labels[ds.split == "train"]} == _labels_in(train_file)
    assert len(_labels_in(train_file)) == 22 and len(_labels_in(test_file)) == 38
    assert set(ds.meta["test_only_classes"]) == _labels_in(test_file) - _labels_in(train_file)
    assert ds.meta["dropped_columns"] == ["difficulty"] and ds.meta["label_column"] == "label"
    x = ds.load(np.flatnonzero(ds.split == "train"))
    numeric = len(ds.meta["statistics"]["columns"])  # 38 numeric columns, z-scored on train rows
    assert numeric == 38 and np.allclose(x[:, :numeric].mean(axis=0), 0, atol=1e-4)
    onehot = x[:, numeric:]
    assert set(np.unique(onehot).tolist()) == {0.0, 1.0} and (onehot.sum(axis=1) == 3).all()
    assert ds.meta["feature_names"][numeric] == "protocol_type=icmp"


def test_index_label_without_header_and_limit(shared_data: Path) -> None:
    path = shared_data / "nsl-kdd" / "KDDTrain+_20Percent.txt"
    ds = load_source("tabular", path=str(path), label_column=41, drop_columns=[-1], limit=300)
    assert len(ds) == 300 and ds.sources[0] == f"{path}:1" and ds.kind == "vector"
    assert ds.meta["dropped_columns"] == ["42"] and ds.items.dtype == np.float32


def test_unseen_categories_are_all_zero(tmp_path: Path) -> None:
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("size,color,label\n1,red,a\n3,blue,b\n")
    test.write_text("size,color,label\n2,green,a\n5,red,c\n")
    ds = load_source("tabular", path=str(train), test_path=str(test))
    x = ds.load(np.arange(4))  # columns: size (z-scored), color=blue, color=red
    assert ds.meta["feature_names"] == ["size", "color=blue", "color=red"]
    assert np.allclose(x[:, 0], [-1, 1, 0, 3]) and x[2, 1:].tolist() == [0, 0]
    assert ds.meta["unseen_categories"] == {"color": {"green": 1}}
    assert ds.meta["test_only_classes"] == ["c"]


def test_header_detection() -> None:
    assert detect_header([(1, ["x", "kind"]), (2, ["1.5", "a"]), (3, ["2", "b"])])
    assert not detect_header([(1, ["0", "tcp"]), (2, ["1.5", "udp"])])


def test_bad_csvs(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,x\n3,4\n")
    with pytest.raises(
        DataError, match=r"t.csv, line 3: expected 3 columns \(as in the first row\), got 2"
    ):
        load_source("tabular", path=str(path))
    path.write_text("a,b,label\n1,2,x\n3,4,y\n")
    with pytest.raises(
        DataError, match=r"label_column 'class' does not exist; the columns are: a, b, label"
    ):
        load_source("tabular", path=str(path), label_column="class")
    test = tmp_path / "test.csv"
    test.write_text("a,b,label\n1,zz,x\n")
    with pytest.raises(
        DataError, match=r"test.csv, line 2, column 'b': expected a number, got 'zz'"
    ):
        load_source("tabular", path=str(path), test_path=str(test))
    with pytest.raises(DataError, match=r"tabular test CSV .*nope.csv does not exist"):
        load_source("tabular", path=str(path), test_path=str(tmp_path / "nope.csv"))
