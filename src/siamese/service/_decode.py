"""Client payloads to items, run in a worker thread (never on the event loop), with limits.

Every failure caused by what the client sent becomes a ``DataError`` (422) or a ``TooLarge``
(413) naming the item: bad base64, bytes that are not an image, an image over the pixel limit
(read from its header, before any pixel is decoded), an array whose header claims more values
than the limit, or anything the decoders in ``siamese.gallery.inputs`` refuse.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

from siamese.errors import DataError, SiameseError
from siamese.gallery.inputs import ItemSpec, from_bytes, from_image_bytes, from_values

Loaded = list[tuple[Any, int | None]]


class TooLarge(DataError):
    """An item over a size limit (answered 413)."""


def decode_json_items(items: list[Any], spec: ItemSpec, max_pixels: int) -> Loaded:
    """Items of a JSON body (``ItemIn`` models) to ``(item, length)`` pairs."""
    out: Loaded = []
    for i, item in enumerate(items):
        where = f"items[{i}]"
        if item.image_base64 is not None:
            try:
                data = base64.b64decode(item.image_base64, validate=True)
            except (binascii.Error, ValueError):
                raise DataError(
                    f"{where}.image_base64: not valid base64 (expected the standard alphabet "
                    "A-Z a-z 0-9 + / with = padding, no line breaks)"
                ) from None
            out.append(
                (_guarded(lambda d=data, w=where: _image(d, spec, w, max_pixels), where), None)
            )
        else:
            out.append(
                _guarded(
                    lambda v=item.values, w=where: from_values(v, spec, where=f"{w}.values"), where
                )
            )
    return out


def decode_uploads(
    uploads: list[tuple[str, bytes]], field: str, spec: ItemSpec, max_pixels: int
) -> Loaded:
    """Uploaded files ``(filename, bytes)`` of one multipart field to ``(item, length)`` pairs."""
    out: Loaded = []
    for name, data in uploads:
        where = f"{field}:{name}"
        suffix = Path(name).suffix.lower()
        if suffix not in (".npy", ".csv") and spec.kind == "image":
            out.append(
                (_guarded(lambda d=data, w=where: _image(d, spec, w, max_pixels), where), None)
            )
        else:
            out.append(
                _guarded(lambda d=data, n=name, w=where: from_bytes(d, n, spec, where=w), where)
            )
    return out


def check_pixels(data: bytes, where: str, max_pixels: int) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels (nothing decoded).

    Raises:
        TooLarge: over the limit. DataError: the bytes are not an image Pillow can identify.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            frames = int(getattr(img, "n_frames", 1) or 1)
    except Image.DecompressionBombError:
        raise TooLarge(
            f"{where}: the image declares more pixels than Pillow's decompression-bomb limit; "
            f"send an image of at most {max_pixels:,} pixels"
        ) from None
    except Exception as exc:  # whatever Pillow says about bytes it cannot identify
        raise DataError(f"{where}: not a readable image ({type(exc).__name__}: {exc})") from None
    if width * height > max_pixels:
        raise TooLarge(
            f"{where}: image of {width} x {height} = {width * height:,} pixels, over the "
            f"service's limit of {max_pixels:,}; resize it before sending"
        )
    if frames > 1 and width * height * frames > 64 * max_pixels:
        raise TooLarge(f"{where}: an animation of {frames} frames; send a single image")


def _image(data: bytes, spec: ItemSpec, where: str, max_pixels: int) -> Any:
    if spec.kind != "image":
        raise DataError(f"{where}: got an image but the model takes {spec.describe()}")
    check_pixels(data, where, max_pixels)
    return from_image_bytes(data, spec, where=where)


def _guarded(decode: Any, where: str) -> Any:
    """Run one item's decoder; whatever it raises on client bytes is a clear 4xx, never a 500."""
    try:
        return decode()
    except SiameseError:
        raise
    except MemoryError:
        raise TooLarge(f"{where}: too large to decode in memory; send a smaller item") from None
    except Exception as exc:  # a decoder failing on client bytes is the client's
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise DataError(f"{where}: could not be read ({type(exc).__name__}: {first})") from None
