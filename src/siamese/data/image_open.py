"""Opening image files safely: one clean error per bad file, and an explicit pixel limit.

Every path that opens an image (the dataset readers, ``data inspect``, enrolment, identification,
verification and the HTTP service) goes through ``open_image``, so a file that is missing, a
folder, empty, not an image, truncated, corrupt, or too large to decode raises one ``DataError``
naming it. ``check_image`` is the cheap decode a dataset gets when it is loaded, before training
starts.

**The pixel limit.** A 100 KB PNG can declare 14000 x 14000 pixels: decoding it takes 600 MB per
channel (a "decompression bomb"). Images above ``MAX_PIXELS`` (8192 x 8192, about 67 megapixels,
more than any common camera) are refused from their header, before a pixel is decoded. Pillow's own
check (a warning above ``PIL.Image.MAX_IMAGE_PIXELS``, about 89 megapixels by default, and an error
above twice that) still applies; its warning is made an error here, so it ends as the same one
clean line instead of a warning printed beside it.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from PIL import Image, UnidentifiedImageError

from siamese.errors import DataError, TooLargeError

#: The most pixels (width x height) an image may declare; larger ones are refused unread.
MAX_PIXELS = 8192 * 8192
#: The largest image file read (bytes); image files are compressed, so this is generous.
MAX_FILE_BYTES = 512 * 2**20

warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

_CORRUPT = (OSError, SyntaxError, ValueError, IndexError, TypeError, EOFError)


def _corrupt(where: str, exc: BaseException) -> DataError:
    return DataError(
        f"{where}: cannot decode the image ({exc}); the file is corrupt or truncated: replace "
        "or remove it"
    )


def _pixels_in(exc: BaseException) -> str:
    """The image size in Pillow's bomb message ("Image size (N pixels) exceeds ...")."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return f"{int(found.group(1)):,} pixels" if found else "too many pixels"


def _too_large(where: str, size: str, limit: int) -> TooLargeError:
    return TooLargeError(
        f"{where}: image of {size}, more than the limit of {limit:,} pixels "
        f"(e.g. {int(limit**0.5)} x {int(limit**0.5)}); downscale the image"
    )


@contextmanager
def open_image(
    source: str | Path | bytes | IO[bytes], where: str, *, max_pixels: int = MAX_PIXELS
) -> Iterator[Image.Image]:
    """``Image.open`` with every failure a ``DataError`` naming ``where``.

    The image is checked against ``max_pixels`` from its header; decoding errors raised inside
    the ``with`` block (``convert``, ``load``, ``resize``) become the same clean error.

    Args:
        source: a file path, the file's bytes, or an open binary file.
        where: the file as messages name it (a path, ``archive.zip/member``, a form field).
        max_pixels: the most pixels the image may declare.

    Raises:
        DataError: missing file, a folder, an empty file, not an image, corrupt or truncated.
        TooLargeError: more than ``max_pixels`` pixels (or past Pillow's own bomb limit).
    """
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        if isinstance(fp, (str, Path)) and Path(fp).is_dir():
            raise DataError(f"{where}: is a folder; expected an image file")
        im = Image.open(fp)
    except FileNotFoundError:
        raise DataError(f"{where}: image file does not exist") from None
    except PermissionError as exc:
        raise DataError(f"{where}: cannot read the image file ({exc.strerror})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(where, _pixels_in(exc), max_pixels) from None
    except UnidentifiedImageError:
        kind = "an empty file" if _is_empty(fp) else "no format Pillow reads"
        raise DataError(
            f"{where}: not a readable image ({kind}); expected an image file (PNG, JPEG, BMP, "
            "PGM, TIFF, WebP, ...): replace or remove it"
        ) from None
    except _CORRUPT as exc:
        raise _corrupt(where, exc) from None
    with im:
        width, height = im.size
        if width * height > max_pixels:
            raise _too_large(where, f"{width} x {height} pixels", max_pixels)
        try:
            yield im
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large(where, f"{width} x {height} pixels", max_pixels) from None
        except _CORRUPT as exc:
            raise _corrupt(where, exc) from None


def check_image(
    source: str | Path | bytes | IO[bytes], where: str, *, max_pixels: int = MAX_PIXELS
) -> tuple[int, int]:
    """Decode an image cheaply to prove it is readable: JPEGs at 1/8 scale, others in full.

    A reduced JPEG decode still reads every compressed byte, so truncation and corrupt data
    are found at a fraction of the cost of a full decode.

    Returns:
        ``(width, height)`` as the file declares it.

    Raises:
        DataError, TooLargeError: as ``open_image``.
    """
    with open_image(source, where, max_pixels=max_pixels) as im:
        size = im.size
        im.draft(None, (1, 1))  # JPEG: decode at the smallest scale; no effect on other formats
        im.load()
    return size


def _is_empty(fp: str | Path | IO[bytes]) -> bool:
    try:
        if isinstance(fp, (str, Path)):
            return Path(fp).stat().st_size == 0
        fp.seek(0, io.SEEK_END)
        return fp.tell() == 0
    except (OSError, ValueError):
        return False
