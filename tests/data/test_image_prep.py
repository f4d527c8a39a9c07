"""Ink cropping, and image files prepared for a saved model the way its training images were."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamese.data import load_omniglot_runs, load_source
from siamese.data.image_file_store import ImageFileStore
from siamese.data.image_prep import check_margin, crop_to_ink, ink_box, preparation_record
from siamese.errors import ConfigError, DataError
from siamese.gallery.inputs import ItemSpec, from_image_bytes
from siamese.pipeline import train_from_config
from siamese.training import load_config


def drawing(top: int, left: int, side: int, canvas: int = 60, ink: int = 0) -> np.ndarray:
    """A hollow square of ``ink`` on paper of the other polarity, ``(canvas, canvas)`` uint8."""
    img = np.full((canvas, canvas), 255 - ink, np.uint8)
    img[top : top + side, left : left + side] = ink
    img[top + 2 : top + side - 2, left + 2 : left + side - 2] = 255 - ink
    return img


def ink_extent(img: np.ndarray, ink_bright: bool) -> tuple[int, int, int, int]:
    mask = img > 127 if ink_bright else img < 128
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return rows[0], rows[-1], cols[0], cols[-1]


def test_a_small_off_centre_drawing_is_centred_and_fills_the_frame() -> None:
    img = drawing(top=5, left=30, side=12)  # 12 px of a 60 px canvas, near the top right
    assert ink_box(img, 0.0) == (30.0, 5.0, 42.0, 17.0)
    out = np.asarray(crop_to_ink(Image.fromarray(img), 0.1, (24, 24)))
    top, bottom, left, right = ink_extent(out, ink_bright=False)
    # the square is 12 * 1.2 = 14.4 px wide, so the ink spans 20 of the 24 output pixels, centred
    assert (top, left) == (2, 2) and (bottom, right) == (21, 21)
    plain = np.asarray(Image.fromarray(img).resize((24, 24), Image.Resampling.BILINEAR))
    assert (plain < 128).sum() < (out < 128).sum() / 3  # without the crop it is a small corner


def test_both_polarities_and_rgb_crop_the_same_box() -> None:
    dark = drawing(top=10, left=8, side=20)
    bright = 255 - dark
    out_dark = np.asarray(crop_to_ink(Image.fromarray(dark), 0.2, (16, 16))).astype(int)
    out_bright = np.asarray(crop_to_ink(Image.fromarray(bright), 0.2, (16, 16))).astype(int)
    assert np.abs(out_dark + out_bright - 255).max() <= 1  # the same box, mirrored values
    rgb = Image.fromarray(np.stack([dark] * 3, axis=-1))
    out_rgb = np.asarray(crop_to_ink(rgb, 0.2, (16, 16)))
    assert out_rgb.shape == (16, 16, 3) and np.abs(out_rgb[..., 0] - out_dark).max() <= 1


def test_ink_at_the_edge_is_padded_with_paper_and_blank_images_are_only_resized() -> None:
    img = drawing(top=0, left=0, side=30)  # touches the top-left corner
    out = np.asarray(crop_to_ink(Image.fromarray(img), 0.25, (20, 20)))
    assert out[0, 0] == 255 and out[-1, -1] == 255  # the margin outside the image is paper
    assert ink_extent(out, ink_bright=False) == (3, 16, 3, 16)
    blank = np.full((50, 40), 200, np.uint8)
    assert ink_box(blank, 0.1) is None
    assert np.asarray(crop_to_ink(Image.fromarray(blank), 0.1, (10, 8))).shape == (10, 8)
    assert crop_to_ink(Image.fromarray(img), 0.1, None).size == (60, 60)  # keeps its own size


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", True])
def test_bad_margins_are_config_errors(bad: object) -> None:
    with pytest.raises(ConfigError, match="ink_crop: expected a margin between 0 and 1"):
        check_margin(bad)  # type: ignore[arg-type]
    assert check_margin(None) is None and check_margin(False) is None and check_margin(0) == 0.0


def test_the_readers_crop_npz_and_png_alike_and_record_it(shared_data: Path) -> None:
    root = shared_data / "omniglot"
    npz = load_source("omniglot", path=str(root), parts=["background"], size=28, ink_crop=0.1,
                      limit_classes=1)  # fmt: skip
    assert npz.meta["image"] == {"invert": True, "ink_crop": 0.1}
    plain = load_source("omniglot", path=str(root), parts=["background"], size=28, limit_classes=1)
    x, y = npz.load(np.arange(20)), plain.load(np.arange(20))
    assert x.shape == y.shape == (20, 1, 28, 28)

    def longer_side(img: np.ndarray) -> int:
        top, bottom, left, right = ink_extent(img[0], ink_bright=True)
        return max(bottom - top, right - left) + 1

    # with a 10% margin the ink's longer side spans 28 / 1.2 = 23 pixels, whatever was drawn
    assert all(22 <= longer_side(img) <= 25 for img in x)
    assert np.mean([longer_side(img) for img in y]) < 20  # without the crop it spans less
    with pytest.raises(ConfigError, match="ink_crop: expected a margin"):
        load_source("omniglot", path=str(root), parts=["background"], ink_crop=2)
    runs = load_omniglot_runs(root / "all_runs.zip", size=28, ink_crop=0.1)
    store = ImageFileStore(
        ["run01/training/class01.png"],
        grayscale=True, size=(28, 28), invert=True, ink_crop=0.1, archive=root / "all_runs.zip",
    )  # fmt: skip
    assert (store.load(np.arange(1))[0] == runs[0].support[0]).all()


def test_gallery_files_are_prepared_like_the_training_files(shared_data: Path) -> None:
    """The enrol / identify / service path gives the same pixels as the reader for one PNG."""
    archive = shared_data / "omniglot" / "all_runs.zip"
    member = "run01/training/class01.png"
    with zipfile.ZipFile(archive) as z:
        png = z.read(member)
    record = preparation_record({"invert": True, "ink_crop": 0.1}, None, "image")
    spec = ItemSpec("image", (1, 28, 28), "uint8", image=record)
    reader = ImageFileStore([member], grayscale=True, size=(28, 28), invert=True, ink_crop=0.1,
                            archive=archive)  # fmt: skip
    assert (from_image_bytes(png, spec) == reader.load(np.arange(1))[0]).all()
    assert not (from_image_bytes(png, ItemSpec("image", (1, 28, 28), "uint8")) == reader.load(
        np.arange(1))[0]).all()  # fmt: skip


def test_the_central_crop_is_recorded_and_repeated() -> None:
    img = np.zeros((40, 50), np.uint8)
    img[10:30, 15:35] = 255  # the central 20 x 20 box is white, the rest black
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    record = preparation_record(None, 20, "image")
    assert record == {"invert": False, "ink_crop": None, "center_crop": [20, 20]}
    out = from_image_bytes(buf.getvalue(), ItemSpec("image", (1, 10, 10), "uint8", image=record))
    assert (out == 255).all()
    small = io.BytesIO()
    Image.fromarray(img[:15, :15]).save(small, format="PNG")
    with pytest.raises(DataError, match=r"smaller than the 20x20 central crop"):
        from_image_bytes(small.getvalue(), ItemSpec("image", (1, 10, 10), "uint8", image=record))
    assert preparation_record({"invert": True}, None, "vector") is None


def test_a_run_saves_how_its_images_were_prepared(shared_data: Path, tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            'name="ink"', f'out_dir="{tmp_path}"', 'data.source="omniglot"',
            f'data.path="{shared_data / "omniglot"}"', "data.limit_classes=6", "data.size=20",
            "data.ink_crop=0.1", 'data.split="protocol"', "data.val_fraction=0.0",
            'model.encoder="conv4"', "model.channels=4", "model.embedding_dim=8",
            "training.epochs=1", "training.steps_per_epoch=2", "training.progress=false",
            "sampling.batch_size=8", "evaluation.episodes=5", "evaluation.n_way=3",
            "evaluation.pairs=20",
        ],
    )  # fmt: skip
    run = train_from_config(cfg, report=False)
    info = json.loads((run.run_dir / "model.json").read_text())["info"]
    assert info["image"] == {"invert": True, "ink_crop": 0.1, "center_crop": None}
    assert ItemSpec.of(run.model).image == info["image"]


def test_class_folders_take_the_same_option(tmp_path: Path) -> None:
    for k, (top, left) in enumerate([(5, 30), (20, 4)]):
        (tmp_path / f"c{k}").mkdir()
        Image.fromarray(drawing(top, left, side=14)).save(tmp_path / f"c{k}" / "a.png")
    ds = load_source("folders", path=str(tmp_path), size=16, ink_crop=0.1)
    assert ds.meta["image"] == {"invert": False, "ink_crop": 0.1}
    x = ds.load(np.arange(2))  # (2, 1, 16, 16): both squares land on the same pixels
    assert (x[0] == x[1]).all() and ink_extent(x[0, 0], ink_bright=False) == (1, 14, 1, 14)
    with pytest.raises(ConfigError, match="ink_crop"):
        load_source("folders", path=str(tmp_path), ink_crop=-1)


def test_enrolling_from_a_source_repeats_the_crops_and_rejects_other_preparation(
    tmp_path: Path,
) -> None:
    from siamese.gallery.build import _read

    for k in range(2):
        (tmp_path / f"c{k}").mkdir()
        img = np.zeros((40, 40), np.uint8)
        img[10:30, 10:30] = 255  # the central 20 x 20 box is white
        Image.fromarray(img).save(tmp_path / f"c{k}" / "a.png")
    cropped = ItemSpec("image", (1, 8, 8), "uint8", image=preparation_record(None, 20, "image"))
    data = _read(cropped, "folders", {"path": str(tmp_path), "size": 8}, None)
    assert data.item_shape == (1, 8, 8) and (data.load(np.arange(2)) == 255).all()
    inked = ItemSpec("image", (1, 8, 8), "uint8", image=preparation_record(
        {"invert": False, "ink_crop": 0.1}, None, "image"))  # fmt: skip
    with pytest.raises(
        DataError, match=r"ink_crop = None.*ink_crop = 0\.1; pass --option ink_crop=0\.1"
    ):
        _read(inked, "folders", {"path": str(tmp_path), "size": 8}, None)
    assert _read(inked, "folders", {"path": str(tmp_path), "size": 8, "ink_crop": 0.1}, None)
