"""Client payloads to items, run in a worker thread (never on the event loop), with limits.

Every failure caused by what the client sent becomes a ``DataError`` (422) or a
``TooLargeError`` (413) naming the item: bad base64, bytes that are not an image, an image over
the service's pixel limit (the decoders of ``siamese.gallery.inputs`` read it from the header,
before any pixel is decoded), an array whose header claims more values than the bytes hold, or
anything else those decoders refuse.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from siamese.errors import DataError, SiameseError, TooLargeError
from siamese.gallery.inputs import ItemSpec, from_bytes, from_image_bytes, from_values

Loaded = list[tuple[Any, int | None]]


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
            image = _guarded(
                lambda d=data, w=where: from_image_bytes(d, spec, where=w, max_pixels=max_pixels),
                where,
            )
            out.append((image, None))
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
        out.append(
            _guarded(
                lambda d=data, n=name, w=where: from_bytes(
                    d, n, spec, where=w, max_pixels=max_pixels
                ),
                where,
            )
        )
    return out


def _guarded(decode: Any, where: str) -> Any:
    """Run one item's decoder; whatever it raises on client bytes is a clear 4xx, never a 500."""
    try:
        return decode()
    except SiameseError:
        raise
    except MemoryError:
        raise TooLargeError(
            f"{where}: too large to decode in memory; send a smaller item"
        ) from None
    except Exception as exc:  # a decoder failing on client bytes is the client's
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise DataError(f"{where}: could not be read ({type(exc).__name__}: {first})") from None
