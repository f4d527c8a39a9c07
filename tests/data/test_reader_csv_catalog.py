"""The CSV catalog reader (class + file columns, reference images) on small catalogs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamese.data import load_source
from siamese.errors import DataError


def _catalog(tmp_path: Path, rows: list[str], header: str = "class,file") -> Path:
    (tmp_path / "img").mkdir(exist_ok=True)
    for k in range(4):
        Image.new("L", (10, 10), k * 60).save(tmp_path / "img" / f"{k}.png")
    path = tmp_path / "catalog.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_catalog_with_references(tmp_path: Path, shared_data: Path) -> None:
    face = shared_data / "att_faces" / "s1" / "1.pgm"  # an absolute path works too
    path = _catalog(
        tmp_path, ["ring,img/0.png", "ring,img/1.png", f"face,{face}", "ring,img/1.png"]
    )
    refs = tmp_path / "refs.csv"
    refs.write_text("class,file\nring,img/2.png\nface,img/3.png\nring,img/0.png\n")
    ds = load_source("csv", path=str(path), references=str(refs), size=10)
    assert len(ds) == 5 and ds.class_names == ["face", "ring"]
    assert ds.meta["is_reference"].tolist() == [True, False, False, True, True]  # img/0 is both
    assert ds.meta["duplicate_rows"] == [f"{path}:5", f"{refs}:4"]
    assert ds.sources[1] == f"{path}:3"
    assert ds.load(np.arange(5)).shape == (5, 1, 10, 10)


def test_custom_columns_and_missing_column(tmp_path: Path) -> None:
    path = _catalog(tmp_path, ["img/0.png,a,train", "img/1.png,b,test"], header="image,sku,part")
    ds = load_source(
        "csv", path=str(path), class_column="sku", file_column="image", split_column="part"
    )
    assert ds.split.tolist() == ["train", "test"]
    with pytest.raises(
        DataError, match=r"class_column 'class' does not exist; the columns are: image, sku, part"
    ):
        load_source("csv", path=str(path))


def test_ragged_row(tmp_path: Path) -> None:
    path = _catalog(tmp_path, ["a,img/0.png", "b,img/1.png,extra"])
    with pytest.raises(
        DataError, match=r"catalog.csv, line 3: expected 2 columns \(as in the first row\), got 3"
    ):
        load_source("csv", path=str(path))


def test_missing_images_raise_or_skip(tmp_path: Path) -> None:
    rows = ["a,img/0.png"] + [f"b,img/missing{k}.png" for k in range(7)]
    path = _catalog(tmp_path, rows)
    with pytest.raises(
        DataError,
        match=r"7 image file\(s\) named in .*catalog.csv do not exist: .*missing0.png \(.*catalog.csv:3\).* and 2 more",
    ):
        load_source("csv", path=str(path))
    ds = load_source("csv", path=str(path), skip_missing=True)
    assert len(ds) == 1 and ds.meta["skipped"]["count"] == 7
    assert ds.meta["skipped"]["entries"][-1]["where"] == f"{path}:9"


def test_split_keeps_reference_marks_aligned(tmp_path: Path) -> None:
    """The protocol split's parts mark their own reference items (meta["is_reference"] is
    indexed with the items, so the sequencer's anchors are the catalog images of each part)."""
    from siamese.data import protocol_split

    rows = ["a,img/0.png,train", "b,img/1.png,test"]
    path = _catalog(tmp_path, rows, header="class,file,split")
    refs = tmp_path / "refs.csv"
    refs.write_text("class,file\na,img/2.png\nb,img/3.png\n")
    ds = load_source("csv", path=str(path), references=str(refs), split_column="split")
    parts = protocol_split(ds)
    for name, part in parts.items():
        assert len(part.meta["is_reference"]) == len(part) == 2, name
        files = [s.rsplit(":", 1)[0] for s in part.sources]
        assert part.meta["is_reference"].tolist() == [f == str(refs) for f in files]
    assert ds.meta["is_reference"].tolist() == [False, False, True, True]  # the whole set kept
