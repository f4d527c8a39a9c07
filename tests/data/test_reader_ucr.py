"""The UCR/UEA .ts reader on the real archive files and on broken copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siamese.data import load_source
from siamese.errors import DataError

EXPECTED = {  # name: (train, test, length, dims, classes), from the data README
    "GunPoint": (50, 150, 150, 1, 2),
    "ArrowHead": (36, 175, 251, 1, 3),
    "ItalyPowerDemand": (67, 1029, 24, 1, 2),
    "BasicMotions": (40, 40, 100, 6, 4),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_equal_length_problems(shared_data: Path, name: str) -> None:
    n_train, n_test, length, dims, classes = EXPECTED[name]
    ds = load_source("ucr", path=str(shared_data / "ucr" / name))
    assert (ds.split == "train").sum() == n_train and (ds.split == "test").sum() == n_test
    assert ds.item_shape == (length, dims) and ds.num_classes == classes
    assert ds.lengths is None and ds.kind == "sequence" and ds.items.dtype == np.float32


def test_variable_length_padded_not_truncated(shared_data: Path) -> None:
    folder = shared_data / "ucr" / "JapaneseVowels"
    ds = load_source("ucr", path=str(folder))
    assert len(ds) == 270 + 370 and ds.item_shape == (29, 12) and ds.num_classes == 9
    assert ds.lengths.min() == 7 and ds.lengths.max() == 29
    # the first series, read by hand, is kept whole and padded with zeros
    line = next(
        x
        for x in (folder / "JapaneseVowels_TRAIN.ts").read_text().splitlines()
        if x and x[0] not in "#@"
    )
    first = np.array([d.split(",") for d in line.split(":")[:-1]], dtype=np.float32).T  # (T, 12)
    x = ds.load(np.array([0]))[0]
    assert ds.lengths[0] == len(first) and np.allclose(x[: len(first)], first)
    assert (x[len(first) :] == 0).all()
    assert ds.sources[0].endswith("JapaneseVowels_TRAIN.ts:16")


def _broken(tmp_path: Path, shared_data: Path, line_no: int, edit) -> Path:
    lines = (
        (shared_data / "ucr" / "BasicMotions" / "BasicMotions_TRAIN.ts").read_text().splitlines()
    )
    lines[line_no - 1] = edit(lines[line_no - 1])
    path = tmp_path / "Broken_TRAIN.ts"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_nan_names_file_line_dimension(tmp_path: Path, shared_data: Path) -> None:
    def nan_in_dim3(line: str) -> str:
        dims = line.split(":")
        values = dims[2].split(",")
        values[4] = "NaN"
        dims[2] = ",".join(values)
        return ":".join(dims)

    path = _broken(tmp_path, shared_data, 20, nan_in_dim3)
    with pytest.raises(
        DataError,
        match=r"Broken_TRAIN.ts, line 20, dimension 3: 1 missing, NaN or infinite value\(s\), first at position 5",
    ):
        load_source("ucr", path=str(path))
    path = _broken(tmp_path, shared_data, 21, lambda s: s.replace(",", ",inf,", 1))
    with pytest.raises(DataError, match=r"line 21, dimension 1: 1 missing, NaN or infinite"):
        load_source("ucr", path=str(path))


def test_wrong_dimensions_and_undeclared_label(tmp_path: Path, shared_data: Path) -> None:
    path = _broken(tmp_path, shared_data, 16, lambda s: s.split(":", 1)[1])
    with pytest.raises(DataError, match=r"line 16: expected 6 dimension\(s\) .*got 5"):
        load_source("ucr", path=str(path))
    path = _broken(tmp_path, shared_data, 16, lambda s: s.rsplit(":", 1)[0] + ":Swimming")
    with pytest.raises(DataError, match=r"line 16: class label 'Swimming' is not declared"):
        load_source("ucr", path=str(path))


def test_missing_test_file(tmp_path: Path) -> None:
    (tmp_path / "Mine_TRAIN.ts").write_text("@classLabel true a b\n@data\n1,2,3:a\n")
    with pytest.raises(DataError, match=r"UCR test file .*Mine_TEST.ts does not exist"):
        load_source("ucr", path=str(tmp_path), problem="Mine")
    ds = load_source("ucr", path=str(tmp_path), problem="Mine", parts=["train"])
    assert len(ds) == 1 and ds.split.tolist() == ["train"]
