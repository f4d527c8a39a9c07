"""``.npy``/``.npz`` files read without trusting their headers (and never unpickled).

A ``.npy`` header states a shape and a dtype; NumPy allocates ``shape x itemsize`` bytes before it
reads a byte of data, so a 100-byte file claiming 10^12 values asks for terabytes. Here the header
is read first (``np.lib.format.read_magic`` / ``read_array_header_*``) and the array is loaded only
when the data it claims are really in the file (the member's size, for an ``.npz``) and fit in this
machine's memory.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from siamese._read import existing_file
from siamese.errors import DataError, TooLargeError


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (``None`` where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_npy_header(fp: IO[bytes], available: int, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Read a ``.npy`` header from ``fp`` and check it against the ``available`` bytes.

    Args:
        fp: positioned at the start of the ``.npy`` data.
        available: the bytes the file (or zip member) holds in all, header included.
        where: the file, for messages.

    Returns:
        ``(shape, dtype)`` as the header states them.

    Raises:
        DataError: not a ``.npy`` header, an object (pickled) array, or fewer data bytes than
            the header claims (truncated, or a header claiming a huge shape).
        TooLargeError: the array would not fit in this machine's memory.
    """
    start = fp.tell()
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            shape, fortran, dtype = np.lib.format._read_array_header(fp, version)  # noqa: SLF001
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise DataError(f"{where}: not a readable .npy array (bad header: {exc})") from None
    if dtype.hasobject:
        raise DataError(
            f"{where}: not a readable .npy array: it holds Python objects (dtype {dtype}), "
            "which are never unpickled; save plain numeric or string arrays"
        )
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    data = available - (fp.tell() - start)
    ram = memory_bytes()
    if claimed > data:
        raise DataError(
            f"{where}: not a readable .npy array: its header claims shape {tuple(shape)} "
            f"({dtype}, {claimed:,} bytes) but the file holds {max(data, 0):,} bytes of data; "
            "the file is truncated or corrupt: save it again"
        )
    if ram is not None and claimed > ram:
        raise TooLargeError(
            f"{where}: an array of shape {tuple(shape)} needs {claimed / 2**30:.1f} GiB, more "
            f"than this machine's {ram / 2**30:.1f} GiB of memory"
        )
    return tuple(shape), dtype


def load_npy(source: str | Path | bytes, where: str | None = None) -> np.ndarray:
    """One array from a ``.npy`` file or its bytes, its header checked first.

    Raises:
        DataError: missing file or a folder, a bad header, an object array, truncated data.
        TooLargeError: the array would not fit in memory.
    """
    if isinstance(source, bytes):
        where = where or "array"
        fp: IO[bytes] = io.BytesIO(source)
        size = len(source)
    else:
        path = existing_file(source, "array file")
        where = where or str(path)
        try:
            fp, size = open(path, "rb"), path.stat().st_size  # noqa: SIM115
        except OSError as exc:
            raise DataError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    with fp:
        check_npy_header(fp, size, where)
        fp.seek(0)
        try:
            return np.load(fp, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{where}: not a readable .npy array ({exc})") from None


def load_npz(path: str | Path, where: str | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file by name, each member's header checked first.

    Raises:
        DataError: missing file or a folder, not a zip archive, a member that is not a valid
            ``.npy`` (or is truncated, or claims more data than it holds), an object array.
        TooLargeError: the arrays would not fit in memory.
    """
    path = existing_file(path, "array file")
    where = where or str(path)
    try:
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.infolist() if m.filename.endswith(".npy")]
            if not members and z.infolist():
                raise DataError(f"{where}: an .npz holds .npy members; this zip has none")
            total = 0
            for m in members:
                with z.open(m) as f:
                    shape, dtype = check_npy_header(f, m.file_size, f"{where}:{m.filename}")
                total += int(np.prod(shape, dtype=object)) * dtype.itemsize
            ram = memory_bytes()
            if ram is not None and total > ram:
                raise TooLargeError(
                    f"{where}: its arrays need {total / 2**30:.1f} GiB, more than this "
                    f"machine's {ram / 2**30:.1f} GiB of memory"
                )
            out = {}
            for m in members:
                with z.open(m) as f:
                    out[m.filename[: -len(".npy")]] = np.lib.format.read_array(
                        f, allow_pickle=False
                    )
            return out
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise DataError(f"{where}: not a valid .npz (zip) file ({exc})") from None
    except (OSError, EOFError, ValueError, NotImplementedError) as exc:  # e.g. a bad CRC
        raise DataError(f"{where}: cannot read the .npz file ({exc}); save it again") from None
