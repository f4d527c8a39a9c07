"""Query files read as records, each remembering where it came from (for `siamese discover`).

Every file is one item, as for `siamese identify`, except for a vector model (tabular records):
there a ``.csv`` of several rows holds one record per row (an optional header row first) and a
``.npy`` of shape ``(N, D)`` one record per row; each record keeps its file and line (``.csv``:
the line number in the file, from 1; ``.npy``: the row, from 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from siamese._read import decode_utf8, read_bytes
from siamese.data.array_files import load_npy
from siamese.data.image_open import MAX_FILE_BYTES
from siamese.errors import DataError
from siamese.gallery.inputs import ItemSpec, from_values, load_file, stack


def load_records(
    files: list[Path], spec: ItemSpec
) -> tuple[np.ndarray, np.ndarray | None, list[dict[str, object]]]:
    """Read query files into a batch.

    Returns:
        ``(items, lengths, origins)``: the stacked batch, true lengths (or None), and for each
        item ``{"file": path, "line": n or None}``.

    Raises:
        DataError: a missing or unreadable file, a row that is not ``D`` numbers, no records.
    """
    loaded: list[tuple[np.ndarray, int | None]] = []
    origins: list[dict[str, object]] = []
    for f in files:
        rows = _vector_rows(f, spec) if spec.kind == "vector" else None
        if rows is None:
            loaded.append(load_file(f, spec))
            origins.append({"file": str(f), "line": None})
            continue
        for line, values in rows:
            loaded.append(from_values(values, spec, where=f"{f}:{line}"))
            origins.append({"file": str(f), "line": line})
    if not loaded:
        raise DataError(f"{', '.join(map(str, files))}: no records; pass files holding query items")
    items, lengths = stack(loaded, spec)
    return items, lengths, origins


def _vector_rows(path: Path, spec: ItemSpec) -> list[tuple[int, np.ndarray]] | None:
    """The rows of a multi-record ``.csv``/``.npy`` of vectors, or None for a one-item file."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npy") or not path.is_file():
        return None  # load_file says what is wrong
    data = read_bytes(path, "item file", max_bytes=MAX_FILE_BYTES)
    if suffix == ".npy":
        arr = load_npy(data, str(path))
        if arr.ndim != 2 or arr.shape[0] == 1 or arr.shape[1] == 1:
            return None
        return [(i + 1, row) for i, row in enumerate(arr)]
    rows: list[tuple[int, np.ndarray]] = []
    first = True
    for i, text in enumerate(decode_utf8(data, str(path)).splitlines(), start=1):
        if not text.strip():
            continue
        header, first = first, False
        try:
            rows.append((i, np.array([float(v) for v in text.split(",")])))
        except ValueError:
            if header:
                continue  # a header row
            raise DataError(
                f"{path}:{i}: expected {spec.shape[0]} comma-separated numbers, got {text[:60]!r}"
            ) from None
    if len(rows) < 2 or all(len(r) == 1 for _, r in rows):
        return None  # one row, or one column: a single vector, as `identify` reads it
    return rows
