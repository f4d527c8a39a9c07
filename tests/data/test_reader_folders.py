"""The class-folders reader on AT&T faces (PGM) and on broken copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamese.data import load_source, read_class_folders
from siamese.errors import DataError


def test_att_faces(shared_data: Path) -> None:
    ds = load_source("folders", path=str(shared_data / "att_faces"))
    assert len(ds) == 400 and ds.num_classes == 40
    assert set(ds.class_counts().values()) == {10}
    assert ds.class_names[:3] == ["s1", "s2", "s3"]  # natural order
    assert ds.item_shape == (1, 112, 92)  # PGM is grayscale: one channel
    x = ds.load(np.array([0, 399]))
    assert x.dtype == np.uint8 and x.shape == (2, 1, 112, 92)
    sub = ds.subset(np.array([5, 6]))
    assert (sub.load(np.array([0, 1])) == ds.load(np.array([5, 6]))).all()
    assert ds.meta["ignored_files"] == []  # README.orig sits in the root: no class


def _folders(tmp_path: Path) -> Path:
    for cls, n in (("cat", 2), ("dog", 3)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            Image.new("RGB", (16, 12 + i), (i * 50, 10, 10)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    return tmp_path


def test_mixed_sizes_need_size_option(tmp_path: Path) -> None:
    root = _folders(tmp_path)
    ds = read_class_folders(str(root))  # the reader alone does not decode
    assert ds.meta["ignored_files"] == [str(root / "dog" / "notes.txt")]
    with pytest.raises(
        DataError, match=r"1.png: image of size 13x16 .*expected 12x16.*set the size option"
    ):
        ds.load(np.arange(len(ds)))
    with pytest.raises(  # loading through the registry finds every odd size at once
        DataError,
        match=r"^3 of 5 file\(s\) cannot be used: .*cat/1.png: image of size 13x16 \(HxW\), not "
        r"12x16 .*dog/1.png.*dog/2.png: image of size 14x16.*; set the size option \(e.g. size = 12\)",
    ):
        load_source("folders", path=str(root))
    resized = load_source("folders", path=str(root), size=[8, 10], grayscale=False)
    assert resized.load(np.arange(5)).shape == (5, 3, 8, 10)


def test_corrupt_image_and_verify(tmp_path: Path) -> None:
    root = _folders(tmp_path)
    (root / "cat" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = read_class_folders(str(root), size=12)
    with pytest.raises(
        DataError, match=r"cat/1.png: cannot decode the image .*corrupt or truncated"
    ):
        ds.load(np.array([1]))
    assert [Path(p["file"]).name for p in ds.items.verify()] == ["1.png"]
    assert [Path(p["file"]).name for p in ds.items.check()] == ["1.png"]
    with pytest.raises(DataError, match=r"^1 of 5 file\(s\) cannot be used: .*cat/1.png: cannot"):
        load_source("folders", path=str(root), size=12)


def test_class_below_min_per_class_and_missing_root(tmp_path: Path) -> None:
    root = _folders(tmp_path)
    with pytest.raises(
        DataError, match=r"class 'cat' has 2 image\(s\), fewer than min_per_class = 3"
    ):
        load_source("folders", path=str(root), min_per_class=3)
    with pytest.raises(DataError, match=r"image folder .*absent does not exist"):
        load_source("folders", path=str(root / "absent"))
