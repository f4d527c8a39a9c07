"""How image files become model inputs: ink cropping, and the preparation a model records.

**Ink cropping.** People draw the same character at different places and sizes on the canvas
(Omniglot's 105x105 drawings fill anywhere from a fifth to all of it). Cropping a square around
the ink, with a margin, and resizing that square to the model's size removes position and scale
from the input and gives the character more of the model's pixels, the way MNIST centres and
scales its digits.

* **Paper and ink.** The paper is the median value of the image (most pixels of a drawing are
  paper); ink is every pixel that differs from it by more than half of the largest difference.
  So it works for dark ink on light paper and for bright ink on dark paper alike.
* **The box.** The square is centred on the ink's bounding box; its side is the box's longer side
  plus ``margin`` of it on each side (``margin = 0.1``: 10%), so the aspect ratio is kept. Outside
  the image it is filled with paper. An image without ink is only resized.
* **Resampling.** The square is resized with Pillow's antialiasing bilinear filter, the same one
  the readers use for plain resizing.

**The recorded preparation.** A run saves in ``model.json`` (``info.image``) what its reader and
``[data] crop`` did to each image file: ``invert``, ``ink_crop`` and ``center_crop``.
``prepare_image`` repeats it, so enrolment, identification and the HTTP service feed a model
image files prepared the way its training images were.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageOps

from siamese.errors import ConfigError, DataError


def check_margin(margin: float | None, where: str = "ink_crop") -> float | None:
    """``margin`` validated: ``None`` (off) or a number in ``[0, 1]``.

    Raises:
        ConfigError: not a number, or outside ``[0, 1]``.
    """
    if margin is None or margin is False:
        return None
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 1:
        raise ConfigError(
            f"{where}: expected a margin between 0 and 1 (a fraction of the ink box's side, "
            f"e.g. 0.1), or false to keep the whole canvas; got {margin!r}"
        )
    return float(margin)


def ink_box(gray: np.ndarray, margin: float) -> tuple[float, float, float, float] | None:
    """The square ``(left, top, right, bottom)`` around the ink of a ``(H, W)`` image, or None.

    ``None`` when the image has no ink (a constant image).
    """
    paper = float(np.median(gray))
    diff = np.abs(gray.astype(np.float32) - paper)  # (H, W)
    peak = float(diff.max())
    if peak <= 0:
        return None
    rows, cols = (
        np.flatnonzero((diff > peak / 2).any(axis=1)),
        np.flatnonzero((diff > peak / 2).any(axis=0)),
    )
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(bottom - top, right - left) * (1 + 2 * margin)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def fit_image(im: Image.Image, size: tuple[int, int] | None, ink_crop: float | None) -> Image.Image:
    """``im`` resized to ``size`` ``(H, W)`` (None: kept), cropped to its ink first if asked."""
    if ink_crop is not None:
        return crop_to_ink(im, ink_crop, size)
    if size is not None and im.size != (size[1], size[0]):
        return im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return im


def preparation_record(
    meta: dict[str, Any] | None, center_crop: int | list[int] | None, kind: str
) -> dict[str, Any] | None:
    """``info.image`` of a run: the reader's ``meta["image"]`` plus ``[data] crop``.

    ``None`` for data that are not images.
    """
    if kind != "image":
        return None
    record = {"invert": False, "ink_crop": None, "center_crop": None, **(meta or {})}
    crop = [center_crop] * 2 if isinstance(center_crop, int) else list(center_crop or [])
    if crop and all(crop):  # ``[data] crop`` unset is 0 or empty
        record["center_crop"] = [int(c) for c in crop]
    return record


def prepare_image(
    im: Image.Image, record: dict[str, Any] | None, size: tuple[int, int], where: str
) -> Image.Image:
    """An image file prepared as the model's training images were (``record`` = ``info.image``).

    Central crop (``[data] crop``, in the file's pixels), then ink crop or plain resize to
    ``size`` ``(H, W)``, then inversion.

    Raises:
        DataError: the file is smaller than the recorded central crop.
    """
    record = record or {}
    if record.get("center_crop"):
        ch, cw = record["center_crop"]
        w, h = im.size
        if ch > h or cw > w:
            raise DataError(
                f"{where}: image of {h}x{w} (HxW) is smaller than the {ch}x{cw} central crop "
                "the model was trained with ([data] crop)"
            )
        top, left = (h - ch) // 2, (w - cw) // 2
        im = im.crop((left, top, left + cw, top + ch))
    im = fit_image(im, size, check_margin(record.get("ink_crop"), "model info.image.ink_crop"))
    if record.get("invert"):
        im = ImageOps.invert(im)
    return im


def crop_to_ink(im: Image.Image, margin: float, size: tuple[int, int] | None) -> Image.Image:
    """``im`` cropped to the square around its ink and resized to ``size`` ``(H, W)``.

    ``size`` ``None`` keeps the image's own size. The ink is found on the grayscale image; an
    RGB image is cropped by the same box.
    """
    out = (im.size[1], im.size[0]) if size is None else size
    gray = np.asarray(im.convert("L"))  # (H, W)
    box = ink_box(gray, margin)
    if box is None:
        return im.resize((out[1], out[0]), Image.Resampling.BILINEAR)
    left, top, right, bottom = box
    pad = int(np.ceil(max(0.0, -left, -top, right - im.size[0], bottom - im.size[1])))
    if pad:  # the square reaches past the image: extend it with paper
        paper = np.median(np.asarray(im).reshape(-1, len(im.getbands())), axis=0)
        fill = int(paper[0]) if len(paper) == 1 else tuple(int(v) for v in paper)
        canvas = Image.new(im.mode, (im.size[0] + 2 * pad, im.size[1] + 2 * pad), fill)
        canvas.paste(im, (pad, pad))
        im, box = canvas, (left + pad, top + pad, right + pad, bottom + pad)
    return im.resize((out[1], out[0]), Image.Resampling.BILINEAR, box=box)
