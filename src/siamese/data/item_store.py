"""Where the items of a dataset live: in memory or loaded on demand.

A store answers ``len(store)``, ``store.item_shape`` and ``store.load(indices)`` (a stacked
``np.ndarray`` batch). ``ArrayStore`` keeps a NumPy array as it is (uint8 images stay uint8, so
70,000 photos do not become float64); readers of files provide lazy stores with the same interface.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ItemStore(Protocol):
    """The interface every store implements."""

    def __len__(self) -> int: ...

    @property
    def item_shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def load(self, indices: np.ndarray) -> np.ndarray: ...

    def subset(self, indices: np.ndarray) -> ItemStore: ...


class ArrayStore:
    """Items held in one NumPy array of shape ``(N, *item_shape)``."""

    def __init__(self, array: np.ndarray):
        self.array = np.asarray(array)

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def item_shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def load(self, indices: np.ndarray) -> np.ndarray:
        """Return the items at ``indices`` as an array ``(len(indices), *item_shape)``."""
        return self.array[np.asarray(indices, dtype=np.int64)]

    def subset(self, indices: np.ndarray) -> ArrayStore:
        return ArrayStore(self.array[np.asarray(indices, dtype=np.int64)])
