"""What a generator yields each step, and the base class every generator derives from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from siamese.errors import DataError


@dataclass
class Batch:
    """One training step's data.

    Attributes:
        indices: ``(U,)`` dataset positions of the batch's unique items (each embedded once).
        labels: ``(U,)`` their labels.
        tuples: index tuples into ``indices`` — pairs ``(a1, p, a2, n)`` or triplets
            ``(a, p, n)`` — or ``None`` for a P x K batch, where the objective (or an online
            miner) forms them from the labels.
        hardness: per-triplet target hardness when a schedule chose the triplets, else ``None``.
        achieved: per-triplet hardness of the chosen negatives when they were measured in a
            feature space (``siamese.mining``), else ``None``.
    """

    indices: np.ndarray
    labels: np.ndarray
    tuples: tuple[np.ndarray, ...] | None = None
    hardness: np.ndarray | None = None
    achieved: np.ndarray | None = None


def unique_batch(
    labels: np.ndarray, *columns: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Deduplicate the dataset indices of tuple columns: return unique indices and local tuples."""
    flat = np.concatenate(columns)
    unique, inverse = np.unique(flat, return_inverse=True)
    splits = np.cumsum([len(c) for c in columns])[:-1]
    return unique, tuple(np.split(inverse.astype(np.int64), splits))


class BatchGenerator:
    """Base class: an epoch is ``steps_per_epoch`` batches drawn from an explicit generator.

    Subclasses fill in ``make_batch(rng)``. Drawing every epoch from ``rng`` given by the trainer
    (derived from the seed and the epoch number) makes epochs replay identically on resume.
    """

    def __init__(self, labels: np.ndarray, steps_per_epoch: int):
        self.labels = np.asarray(labels, dtype=np.int64)
        if steps_per_epoch < 1:
            raise DataError(f"steps_per_epoch: expected at least 1, got {steps_per_epoch}")
        self.steps_per_epoch = int(steps_per_epoch)
        classes, counts = np.unique(self.labels, return_counts=True)
        self.classes = classes
        self.by_class = {int(c): np.flatnonzero(self.labels == c) for c in classes}
        self.multi = classes[counts >= 2]  # classes that can give a positive

    def require_positives(self, what: str) -> None:
        if len(self.multi) == 0:
            raise DataError(
                f"{what}: every class has a single item, but a positive pair needs a class with at "
                "least 2 items; add examples or use a dataset with repeated classes"
            )
        if len(self.classes) < 2:
            raise DataError(f"{what}: a negative needs at least 2 classes, got {len(self.classes)}")

    def epoch(self, rng: np.random.Generator) -> Iterator[Batch]:
        for _ in range(self.steps_per_epoch):
            yield self.make_batch(rng)

    def make_batch(self, rng: np.random.Generator) -> Batch:
        raise NotImplementedError

    def _two_from(self, rng: np.random.Generator, cls: int) -> tuple[int, int]:
        a, p = rng.choice(self.by_class[cls], size=2, replace=False)
        return int(a), int(p)

    def _other_class(self, rng: np.random.Generator, cls: np.ndarray) -> np.ndarray:
        """For each class in ``cls``, a uniformly drawn different class."""
        pos = np.searchsorted(self.classes, cls)
        shift = rng.integers(1, len(self.classes), size=len(cls))
        return self.classes[(pos + shift) % len(self.classes)]

    def _item_of(self, rng: np.random.Generator, cls: np.ndarray) -> np.ndarray:
        return np.array(
            [self.by_class[int(c)][rng.integers(len(self.by_class[int(c)]))] for c in cls]
        )
