"""Checks and small parsers the file readers share (paths, CSV rows, columns, missing files)."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamese._read import decode_utf8
from siamese.errors import ConfigError, DataError

#: How many offending entries an error message lists before "...".
FIRST_FEW = 5


def existing_path(path: str | Path, what: str = "data path") -> Path:
    """Return ``path`` as a ``Path`` after checking it exists.

    Raises:
        DataError: the path does not exist (the message names it and the folder it was looked for in).
    """
    p = Path(path).expanduser()
    if not p.exists():
        parent = p.parent if str(p.parent) else Path(".")
        hint = "" if parent.exists() else f" (the folder {parent} does not exist either)"
        raise DataError(f"{what} {p} does not exist{hint}; check the path option")
    return p


def image_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """Parse a ``size`` option: ``105`` means 105x105, ``[112, 92]`` means height 112, width 92.

    Raises:
        ConfigError: not a positive int or a pair of positive ints.
    """
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if not (
        isinstance(size, Sequence) and len(size) == 2 and all(isinstance(s, int) for s in size)
    ):
        raise ConfigError(f"size: expected an int or [height, width], got {size!r}")
    if min(size) < 1:
        raise ConfigError(f"size: expected positive sizes, got {list(size)}")
    return int(size[0]), int(size[1])


def natural_key(text: str) -> list[Any]:
    """Sort key putting ``s2`` before ``s10`` (numbers compare as numbers)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def read_csv_lines(
    path: Path,
    *,
    delimiter: str = ",",
    expected_columns: int | None = None,
    limit: int | None = None,
) -> list[tuple[int, list[str]]]:
    """Read the rows of a CSV file, checking that all rows have the same number of columns.

    Blank lines are skipped.

    Args:
        path: the CSV file.
        delimiter: the field separator.
        expected_columns: columns every row must have (default: as many as the first row).
        limit: stop after this many rows (``None``: all).

    Returns:
        ``(line, fields)`` per row: its 1-based line number and its stripped fields.

    Raises:
        DataError: a row with another number of columns (file, line, expected vs got), a file
            that is not UTF-8 text (line), a folder, or an unreadable file.
    """
    out: list[tuple[int, list[str]]] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                line = reader.line_num
                if expected_columns is None:
                    expected_columns = len(row)
                elif len(row) != expected_columns:
                    raise DataError(
                        f"{path}, line {line}: expected {expected_columns} columns (as in the "
                        f"first row), got {len(row)}; fix the row or the delimiter "
                        f"(delimiter={delimiter!r})"
                    )
                out.append((line, [c.strip() for c in row]))
                if limit is not None and len(out) >= limit:
                    break
    except UnicodeDecodeError as exc:
        decode_utf8(Path(path).read_bytes(), str(path))  # raises, naming the line
        raise DataError(f"{path}: not a UTF-8 text file ({exc}); is it really a CSV?") from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder; expected a CSV file: give the file's path") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the CSV file ({exc.strerror or exc})") from None
    return out


def column_index(
    column: str | int, names: Sequence[str], path: Path, option: str = "label_column"
) -> int:
    """Position of ``column`` (a name or an index, negative allowed) among ``names``.

    Raises:
        DataError: no such column (the message lists the columns there are).
    """
    n = len(names)
    if isinstance(column, int) and not isinstance(column, bool):
        if -n <= column < n:
            return column % n
        raise DataError(
            f"{path}: {option} = {column} is out of range for {n} columns "
            f"(valid indices 0..{n - 1} or -{n}..-1)"
        )
    if isinstance(column, str):
        if column in names:
            return list(names).index(column)
        if column.lstrip("-").isdigit():
            return column_index(int(column), names, path, option)
    shown = ", ".join(names[:60]) + (", ..." if n > 60 else "")
    raise DataError(f"{path}: {option} {column!r} does not exist; the columns are: {shown}")


def missing_files_message(missing: Sequence[tuple[str, str]], listed_in: str) -> str:
    """One line saying how many files named in ``listed_in`` are missing, with the first few.

    Args:
        missing: ``(file, where)`` pairs, ``where`` being e.g. ``"line 12"``.
        listed_in: the file that names them.
    """
    first = ", ".join(f"{f} ({w})" for f, w in missing[:FIRST_FEW])
    more = f" and {len(missing) - FIRST_FEW} more" if len(missing) > FIRST_FEW else ""
    return f"{len(missing)} image file(s) named in {listed_in} do not exist: {first}{more}"


def handle_missing(
    missing: Sequence[tuple[str, str]], listed_in: str, skip_missing: bool
) -> dict[str, Any] | None:
    """Raise for missing files, or (with ``skip_missing``) describe what is skipped.

    Returns:
        ``None`` when nothing is missing, else the ``meta["skipped"]`` record: ``count``,
        ``entries`` (every ``{"file", "where"}`` skipped) and ``message`` (one line for the CLI).

    Raises:
        DataError: files are missing and ``skip_missing`` is false.
    """
    if not missing:
        return None
    message = missing_files_message(missing, listed_in)
    if not skip_missing:
        raise DataError(f"{message}; fix the paths, or set skip_missing = true to leave them out")
    return {
        "count": len(missing),
        "entries": [{"file": f, "where": w} for f, w in missing],
        "message": f"skipped: {message}",
    }


def numeric_matrix(
    path: Path, rows: Sequence[tuple[int, list[str]]], columns: Sequence[int], header: Sequence[str]
) -> np.ndarray:
    """The given columns of CSV rows as a ``(rows, len(columns))`` float64 array of finite numbers.

    Args:
        path: the CSV file (for messages).
        rows: ``(line, fields)`` as ``read_csv_lines`` returns them.
        columns: column positions to convert.
        header: the column names (for messages).

    Raises:
        DataError: a non-numeric, empty, NaN or infinite value (file, line, column).
    """
    try:
        x = np.array([[float(fields[c]) for c in columns] for _, fields in rows], dtype=np.float64)
    except ValueError:
        for line, fields in rows:  # find the first bad cell for the message
            for c in columns:
                try:
                    float(fields[c])
                except ValueError:
                    raise DataError(
                        f"{path}, line {line}, column {header[c]!r}: expected a number, got "
                        f"{fields[c]!r}; drop the column or fix the value"
                    ) from None
        raise
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        r, c = bad[0]
        raise DataError(
            f"{path}, line {rows[r][0]}, column {header[columns[c]]!r}: {x[r, c]} is not a finite "
            f"number ({len(bad)} such value(s) in all); fill or interpolate them"
        )
    return x.reshape(len(rows), len(columns))
