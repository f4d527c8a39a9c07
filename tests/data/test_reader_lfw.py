"""The LFW pairs reader on the real files and on broken copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamese.data import load_source, read_lfw
from siamese.errors import DataError


def test_view2_pairs_counts_and_folds(shared_data: Path) -> None:
    ds = load_source("lfw", path=str(shared_data / "lfw"))
    pairs = ds.meta["pairs"]
    assert ds.meta["protocol"] == "lfw-view2-10fold"
    assert len(pairs["i"]) == 6000 and pairs["same"].sum() == 3000
    assert np.bincount(pairs["fold"]).tolist() == [600] * 10
    assert len(ds) == 7701 and ds.num_classes == 4281  # every image the pairs use
    # same pairs join one person, different pairs two
    assert (ds.labels[pairs["i"]] == ds.labels[pairs["j"]]).tolist() == pairs["same"].tolist()
    # folds are person-disjoint: each person's images carry one fold
    fold_of_person = {}
    for label, fold in zip(ds.labels.tolist(), ds.meta["item_fold"].tolist(), strict=True):
        assert fold_of_person.setdefault(label, fold) == fold
    first = pairs["i"][0]
    assert ds.sources[first].endswith("Abel_Pacheco/Abel_Pacheco_0001.jpg")
    x = ds.load(np.array([first]))
    assert x.shape == (1, 3, 150, 150) and x.dtype == np.uint8


def test_dev_files_grayscale_koch_size(shared_data: Path) -> None:
    train = load_source(
        "lfw", path=str(shared_data / "lfw"), pairs="train.txt", grayscale=True, size=105
    )
    assert len(train.meta["pairs"]["i"]) == 4800 and train.meta["protocol"] == "lfw-dev"
    assert train.load(np.array([0, 1])).shape == (2, 1, 105, 105)
    dev = load_source("lfw", path=str(shared_data / "lfw"), pairs="dev")
    counts = dict(zip(*np.unique(dev.meta["pairs"]["fold"], return_counts=True), strict=True))
    assert counts == {0: 4800, 1: 1200}
    train_people = set(dev.labels[dev.split == "train"].tolist())
    assert not train_people & set(dev.labels[dev.split == "test"].tolist())


def _tiny_lfw(tmp_path: Path, lines: list[str]) -> Path:
    for name, n in (("Ann_A", 2), ("Bob_B", 1)):
        (tmp_path / "images" / name).mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(
                tmp_path / "images" / name / f"{name}_{i:04d}.jpg"
            )
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_pairs_line_with_wrong_field_count(tmp_path: Path) -> None:
    root = _tiny_lfw(tmp_path, ["1\t1", "Ann_A\t1\t2", "Ann_A\t1\tBob_B"])
    with pytest.raises(
        DataError, match=r"pairs.txt, line 3: expected 4 fields .*different-person.*got 3"
    ):
        load_source("lfw", path=str(root))


def test_header_promising_more_lines(tmp_path: Path) -> None:
    root = _tiny_lfw(tmp_path, ["2\t1", "Ann_A\t1\t2", "Ann_A\t1\tBob_B\t1"])
    with pytest.raises(DataError, match=r"announces 2 fold\(s\) .* 4 lines, but the file has 2"):
        load_source("lfw", path=str(root))


def test_missing_images_raise_or_are_skipped_and_recorded(tmp_path: Path) -> None:
    lines = ["2", "Ann_A\t1\t2", "Ann_A\t1\t7", "Ann_A\t1\tBob_B\t1", "Bob_B\t3\tAnn_A\t2"]
    root = _tiny_lfw(tmp_path, lines)
    with pytest.raises(
        DataError,
        match=r"2 image file\(s\) named in .*pairs.txt do not exist: .*Ann_A_0007.jpg \(pairs.txt line 3\).*skip_missing",
    ):
        load_source("lfw", path=str(root))
    ds = load_source("lfw", path=str(root), skip_missing=True)
    skipped = ds.meta["skipped"]
    assert skipped["count"] == 2 and skipped["message"].startswith("skipped: 2 image file(s)")
    assert [e["where"] for e in skipped["entries"]] == ["pairs.txt line 3", "pairs.txt line 5"]
    assert len(ds.meta["pairs"]["i"]) == 2 and len(ds) == 3


def test_corrupt_image_named_at_load(tmp_path: Path) -> None:
    root = _tiny_lfw(tmp_path, ["1", "Ann_A\t1\t2", "Ann_A\t1\tBob_B\t1"])
    bad = root / "images" / "Bob_B" / "Bob_B_0001.jpg"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated JPEG
    ds = read_lfw(str(root))  # the reader alone decodes nothing
    ds.load(np.array([0]))  # the good images decode
    with pytest.raises(DataError, match=r"Bob_B_0001.jpg: cannot decode the image"):
        ds.load(np.arange(len(ds)))
    problems = ds.items.verify()
    assert [Path(p["file"]).name for p in problems] == ["Bob_B_0001.jpg"]
    with pytest.raises(DataError, match=r"^1 of 3 file\(s\) cannot be used: .*Bob_B_0001.jpg"):
        load_source("lfw", path=str(root))  # found when the data are loaded


def test_nonexistent_path() -> None:
    with pytest.raises(DataError, match=r"LFW path /no/such/lfw does not exist"):
        load_source("lfw", path="/no/such/lfw")
