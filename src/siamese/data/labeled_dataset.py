"""LabeledDataset: the one shape every reader returns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siamese.data.item_store import ArrayStore, ItemStore
from siamese.errors import DataError

#: ``meta`` entries holding one value per item: ``subset`` keeps them aligned with the items.
PER_ITEM_META = ("is_reference",)


@dataclass
class LabeledDataset:
    """Items with integer labels, class names and where each item came from.

    Attributes:
        items: an ``ItemStore`` (``ArrayStore`` for in-memory arrays, lazy stores for files).
        labels: ``(N,)`` int64, each in ``[0, len(class_names))``.
        class_names: the name of each label.
        sources: ``N`` strings saying where each item came from (``file``, ``file:line``, ...).
        lengths: ``(N,)`` true lengths of variable-length sequences padded to a common length, or
            ``None`` when every item has the full length.
        split: ``(N,)`` strings ``"train"``/``"val"``/``"test"`` when the data's own protocol
            defines the split (UCR TRAIN/TEST, Omniglot background/evaluation), else ``None``.
        kind: ``"image"``, ``"sequence"`` or ``"vector"``: what encoders fit it.
        meta: anything else a reader knows (pair lists, folds, the name of the protocol);
            the entries named in ``PER_ITEM_META`` hold one value per item.
    """

    items: ItemStore
    labels: np.ndarray
    class_names: list[str]
    sources: list[str]
    kind: str = "vector"
    lengths: np.ndarray | None = None
    split: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.items, np.ndarray):
            self.items = ArrayStore(self.items)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.items)
        if self.labels.shape != (n,):
            raise DataError(
                f"labels: expected shape ({n},) to match {n} items, got {self.labels.shape}"
            )
        if len(self.sources) != n:
            raise DataError(
                f"sources: expected {n} entries (one per item), got {len(self.sources)}"
            )
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise DataError(
                f"labels: expected integers in [0, {len(self.class_names)}) "
                f"(one per class name), got range [{self.labels.min()}, {self.labels.max()}]"
            )
        if self.kind not in ("image", "sequence", "vector"):
            raise DataError(f"kind: expected 'image', 'sequence' or 'vector', got {self.kind!r}")
        if self.lengths is not None:
            self.lengths = np.asarray(self.lengths, dtype=np.int64)
        if self.split is not None:
            self.split = np.asarray(self.split, dtype=object)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_classes(self) -> int:
        """Number of classes with at least one item."""
        return int(len(np.unique(self.labels)))

    @property
    def item_shape(self) -> tuple[int, ...]:
        return self.items.item_shape

    def load(self, indices: np.ndarray) -> np.ndarray:
        """Return the items at ``indices`` stacked into one array."""
        return self.items.load(np.asarray(indices, dtype=np.int64))

    def subset(self, indices: np.ndarray, *, relabel: bool = False) -> LabeledDataset:
        """The dataset restricted to ``indices``.

        Args:
            indices: item positions to keep, in order.
            relabel: when true, labels are renumbered ``0..C-1`` over the classes present and
                ``class_names`` shrinks to them; otherwise labels and names are kept as they are.
        """
        indices = np.asarray(indices, dtype=np.int64)
        labels = self.labels[indices]
        class_names = list(self.class_names)
        if relabel:
            present, labels = np.unique(labels, return_inverse=True)
            class_names = [self.class_names[c] for c in present]
        return LabeledDataset(
            items=self.items.subset(indices),
            labels=labels,
            class_names=class_names,
            sources=[self.sources[i] for i in indices],
            kind=self.kind,
            lengths=None if self.lengths is None else self.lengths[indices],
            split=None if self.split is None else self.split[indices],
            meta=self._subset_meta(indices),
        )

    def _subset_meta(self, indices: np.ndarray) -> dict[str, Any]:
        """``meta`` of a subset: per-item entries (``PER_ITEM_META``) indexed like the items."""
        meta = dict(self.meta)
        for key in PER_ITEM_META:
            value = meta.get(key)
            if value is not None and len(value) == len(self.labels):
                meta[key] = np.asarray(value)[indices]
        return meta

    def with_classes(self, class_ids: np.ndarray | list[int]) -> LabeledDataset:
        """The items whose label is in ``class_ids`` (labels keep their numbering)."""
        mask = np.isin(self.labels, np.asarray(class_ids))
        return self.subset(np.flatnonzero(mask))

    def class_counts(self) -> dict[str, int]:
        """Items per class name (classes with no item are left out)."""
        counts = Counter(self.labels.tolist())
        return {self.class_names[c]: n for c, n in sorted(counts.items())}

    def describe(self) -> dict[str, Any]:
        """Counts for the dataset analysis (``siamese data inspect`` and the report)."""
        counts = np.array(list(Counter(self.labels.tolist()).values()) or [0])
        out: dict[str, Any] = {
            "items": len(self),
            "classes": self.num_classes,
            "kind": self.kind,
            "item_shape": list(self.item_shape),
            "dtype": str(self.items.dtype),
            "items_per_class": {
                "min": int(counts.min()),
                "median": float(np.median(counts)),
                "max": int(counts.max()),
                "single_item_classes": int((counts == 1).sum()),
            },
        }
        if self.lengths is not None:
            out["lengths"] = {
                "min": int(self.lengths.min()),
                "median": float(np.median(self.lengths)),
                "max": int(self.lengths.max()),
            }
        if self.split is not None:
            out["protocol_split"] = dict(Counter(self.split.tolist()))
        return out
