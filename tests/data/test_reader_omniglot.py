"""The Omniglot readers: .npz arrays, the zip layout, and the official 20 runs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from siamese.data import load_omniglot_runs, load_source, read_omniglot
from siamese.errors import ConfigError, DataError


def test_zip_layout_read_straight_from_the_zip(shared_data: Path) -> None:
    path = shared_data / "omniglot" / "images_background_small1.zip"
    with zipfile.ZipFile(path) as z:
        pngs = [m for m in z.namelist() if m.endswith(".png")]
    ds = load_source("omniglot", path=str(path))
    assert len(ds) == len(pngs) == 2720
    assert ds.num_classes == len({m.rsplit("/", 1)[0] for m in pngs}) == 136
    assert ds.class_names[0] == "Balinese/character01"
    assert set(ds.split.tolist()) == {"train"}  # a background part
    x = ds.load(np.arange(20))
    assert x.shape == (20, 1, 105, 105) and x.dtype == np.uint8
    assert 0 < (x == 255).mean() < 0.5  # ink is bright and the minority


def test_npz_parts_and_protocol_split(shared_data: Path) -> None:
    ds = load_source("omniglot", path=str(shared_data / "omniglot"), limit_classes=3, size=28)
    assert ds.meta["parts"] == ["background", "evaluation"]
    assert len(ds) == 2 * 3 * 20 and ds.num_classes == 6
    assert dict(zip(*np.unique(ds.split, return_counts=True), strict=True)) == {
        "test": 60,
        "train": 60,
    }
    assert ds.item_shape == (1, 28, 28)
    evaluation = load_source(
        "omniglot", path=str(shared_data / "omniglot"), parts=["evaluation"], limit_classes=2
    )
    raw = np.load(shared_data / "omniglot" / "images_evaluation.npz")["images"][:2]
    # True = paper in the file; the reader inverts so ink (False) becomes 255
    assert (
        evaluation.load(np.arange(40))[:, 0] == np.where(raw.reshape(40, 105, 105), 0, 255)
    ).all()


def test_official_runs(shared_data: Path) -> None:
    runs = load_omniglot_runs(shared_data / "omniglot" / "all_runs.zip")
    assert len(runs) == 20 and sum(len(r.answers) for r in runs) == 400
    run = runs[0]
    assert (
        run.name == "run01"
        and run.support.shape == (20, 1, 105, 105)
        and run.query.shape == (20, 1, 105, 105)
    )
    assert run.support_names[7] == "class08" and run.answers[0] == 7  # item01 -> class08
    assert sorted(run.answers.tolist()) == list(range(20))


def test_unknown_part_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"parts: unknown \['train'\]; valid parts: background, evaluation"
    ):
        load_source("omniglot", path=str(tmp_path), parts=["train"])
    with pytest.raises(DataError, match=r"Omniglot path .*nope does not exist"):
        load_source("omniglot", path=str(tmp_path / "nope"))


def test_runs_with_a_bad_label_line(tmp_path: Path) -> None:
    path = tmp_path / "all_runs.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("run01/training/class01.png", b"")
        z.writestr("run01/test/item01.png", b"")
        z.writestr("run01/class_labels.txt", "run01/test/item01.png run01/training/class09.png\n")
    with pytest.raises(
        DataError, match=r"class_labels.txt, line 1: expected '<test image> <training image>'"
    ):
        load_omniglot_runs(path)


def test_truncated_png_in_zip_is_named(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "omniglot" / "images_background_small1.zip"
    path = tmp_path / "broken.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        members = [m for m in zin.namelist() if m.endswith(".png")][:3]
        for k, m in enumerate(members):
            data = zin.read(m)
            zout.writestr(m, data[: len(data) // 3] if k == 1 else data)
    ds = read_omniglot(str(path))
    with pytest.raises(DataError, match=r"broken.zip/.*0108_02.png: cannot decode the image"):
        ds.load(np.arange(3))
    with pytest.raises(DataError, match=r"^1 of 3 file\(s\) .*broken.zip/.*0108_02.png: cannot"):
        load_source("omniglot", path=str(path))
