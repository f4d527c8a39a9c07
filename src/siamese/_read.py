"""Reading the files a user hands us: one clean error, never a traceback, for every bad file.

A path that is missing or a folder, a file larger than the reader accepts, text that is not UTF-8
(the message gives the line of the first bad byte) and JSON that is malformed or nested too deep
for the parser each raise the caller's error class (``DataError`` by default) with a message that
names the file, what was expected and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from siamese.errors import DataError, SiameseError


def existing_file(
    path: str | Path, what: str = "file", error: type[SiameseError] = DataError
) -> Path:
    """``path`` as a ``Path`` after checking it is an existing file (not a folder).

    Raises:
        error: the path does not exist, or is a folder.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise error(f"{what} {p} is a folder; expected a file: give the path of the file itself")
    if not p.is_file():
        parent = p.parent if str(p.parent) else Path(".")
        hint = "" if parent.is_dir() else f" (the folder {parent} does not exist either)"
        raise error(f"{what} {p} does not exist{hint}; check the path")
    return p


def read_bytes(
    path: str | Path,
    what: str = "file",
    *,
    max_bytes: int | None = None,
    error: type[SiameseError] = DataError,
) -> bytes:
    """The bytes of an existing file of at most ``max_bytes`` bytes.

    Raises:
        error: missing, a folder, larger than ``max_bytes``, or unreadable (permissions).
    """
    p = existing_file(path, what, error)
    try:
        size = p.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise error(
                f"{what} {p}: {size:,} bytes, more than the {max_bytes:,} a {what} may have; "
                "is it the right file?"
            )
        return p.read_bytes()
    except OSError as exc:
        raise error(f"{what} {p}: cannot be read ({exc.strerror or exc})") from None


def decode_utf8(data: bytes, where: str, error: type[SiameseError] = DataError) -> str:
    """``data`` decoded as UTF-8 (a leading byte-order mark is dropped).

    Raises:
        error: not UTF-8; the message gives the line and the offending byte.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(
            f"{where}, line {line}: not UTF-8 text (byte {data[exc.start : exc.start + 1]!r} at "
            f"offset {exc.start}); save the file as UTF-8"
        ) from None


def read_text(
    path: str | Path,
    what: str = "file",
    *,
    max_bytes: int | None = None,
    error: type[SiameseError] = DataError,
) -> str:
    """The UTF-8 text of an existing file (checks as ``read_bytes`` and ``decode_utf8``)."""
    return decode_utf8(read_bytes(path, what, max_bytes=max_bytes, error=error), str(path), error)


def parse_json(text: str | bytes, where: str, error: type[SiameseError] = DataError) -> Any:
    """Parse JSON text (bytes must be UTF-8).

    Raises:
        error: not UTF-8, malformed JSON (line and column), or nested too deep for the parser.
    """
    if isinstance(text, bytes):
        text = decode_utf8(text, where, error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{where}, line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg})"
        ) from None
    except RecursionError:
        raise error(
            f"{where}: JSON nested too deep to parse (thousands of levels); is it the right file?"
        ) from None


def read_json(
    path: str | Path,
    what: str = "JSON file",
    *,
    max_bytes: int | None = None,
    error: type[SiameseError] = DataError,
) -> Any:
    """Read and parse a JSON file (checks as ``read_text`` and ``parse_json``)."""
    return parse_json(read_text(path, what, max_bytes=max_bytes, error=error), str(path), error)
