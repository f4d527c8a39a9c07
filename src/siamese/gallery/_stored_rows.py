"""A column of a store's items table, read on demand: the rows a gallery does not hold in memory.

A gallery whose search runs in the database (PostgreSQL + pgvector) needs, per query, only the
ids and classes of the nearest items, which the search returns. ``Gallery.load`` of such a store
gets ``StoredRows`` as ``embeddings_`` and ``labels_`` instead of arrays: they know their length
and shape, fetch the rows a caller indexes (``labels_[ids]``: one query, or none when the search
already returned those ids' classes), and read every row only when asked for the whole array
(``np.asarray(g.embeddings_)``, ``snapshot()`` to save the gallery elsewhere).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class RowSource(Protocol):
    """What a store offers ``StoredRows``."""

    def fetch(self, column: str, ids: np.ndarray | None, count: int) -> np.ndarray:
        """``column`` of the items ``ids`` (None: ids ``0..count-1``), in the order given."""
        ...


class StoredRows:
    """``count`` rows of one column (``"embedding"``: ``(count, dim)`` float32; ``"class_id"``:
    ``(count,)`` int64) that live in a store.

    Only the array operations a ``Gallery`` uses are offered: ``len``, ``shape``, ``ndim``,
    ``dtype``, indexing by an integer, a slice or an integer array, ``np.asarray`` and
    ``astype`` (these two read every row), and ``extended`` (rows the store committed after).
    """

    def __init__(self, store: RowSource, column: str, count: int, dim: int | None = None):
        self.store, self.column, self.count, self.dim = store, column, int(count), dim
        self.dtype = np.dtype(np.float32 if dim is not None else np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.count, self.dim) if self.dim is not None else (self.count,)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"StoredRows({self.column!r}, shape={self.shape}, in {self.store!r})"

    def extended(self, rows: int) -> StoredRows:
        """The same column after ``rows`` more rows were committed to the store (in place)."""
        self.count += int(rows)
        return self

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            index = int(key) + self.count if key < 0 else int(key)
            return self[np.array([index])][0]
        if isinstance(key, slice):
            return self[np.arange(self.count)[key]]
        ids = np.asarray(key)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"StoredRows: index by integers, not {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.count):
            raise IndexError(f"StoredRows: ids beyond the {self.count} rows")
        flat = ids.reshape(-1)
        unique, inverse = np.unique(flat, return_inverse=True)
        rows = self.store.fetch(self.column, unique, self.count) if len(unique) else None
        if rows is None:
            return np.zeros((*ids.shape, *self.shape[1:]), dtype=self.dtype)
        return rows[inverse].reshape(*ids.shape, *self.shape[1:])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.store.fetch(self.column, None, self.count)
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype: Any, copy: bool = True) -> np.ndarray:
        return np.asarray(self).astype(dtype)
