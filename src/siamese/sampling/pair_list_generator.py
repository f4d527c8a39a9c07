"""A fixed list of pairs (LFW's pairs files), each seen once per epoch in a shuffled order."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from siamese.errors import DataError
from siamese.sampling._batch import Batch, BatchGenerator, unique_batch


class PairListGenerator(BatchGenerator):
    """Batches of ``pairs_per_batch`` given pairs: every pair exactly once per epoch.

    Pairs-only training as in Koch et al.'s LFW recipe: the model sees the listed pairs and no
    other combination of their images. Each epoch shuffles the same and the different pairs with
    the trainer's epoch generator (``shuffle=False``: keeps list order, the same every epoch) and
    deals them interleaved in proportion, so every batch holds both kinds in the list's ratio (a
    pairs file lists all same pairs first; a batch of one kind only would give the pair losses
    nothing to contrast). The last batch holds the remainder. A batch's tuples are ``(a1, p, a2,
    n)``: its same-person pairs ``(a1, p)`` and its different-person pairs ``(a2, n)``.

    Args:
        labels: ``(N,)`` the dataset's labels.
        i, j: ``(P,)`` item positions of each pair's two images.
        same: ``(P,)`` whether the pair is of one class.
        pairs_per_batch: pairs per batch.
        shuffle: a new order every epoch.

    Raises:
        DataError: mismatched lengths, an index outside the dataset, a pair whose ``same`` flag
            contradicts the labels, or no pairs.
    """

    def __init__(
        self,
        labels: np.ndarray,
        i: np.ndarray,
        j: np.ndarray,
        same: np.ndarray,
        pairs_per_batch: int = 32,
        *,
        shuffle: bool = True,
    ):
        i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
        same = np.asarray(same, dtype=bool)
        if not len(i) == len(j) == len(same):
            raise DataError(
                f"pair list: {len(i)} first items, {len(j)} second items and {len(same)} "
                "same/different flags; expected one of each per pair"
            )
        if len(i) == 0:
            raise DataError("pair list: no pairs; expected at least one listed pair to train on")
        n = len(labels)
        if min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n:
            raise DataError(
                f"pair list: item positions must lie in 0..{n - 1} (the dataset's items), got "
                f"{min(i.min(), j.min())}..{max(i.max(), j.max())}"
            )
        labels = np.asarray(labels, dtype=np.int64)
        wrong = np.flatnonzero((labels[i] == labels[j]) != same)
        if len(wrong):
            raise DataError(
                f"pair list: pair {int(wrong[0])} is marked {'same' if same[wrong[0]] else 'different'} "
                f"but its items have labels {labels[i[wrong[0]]]} and {labels[j[wrong[0]]]} "
                f"({len(wrong)} such pairs); fix the pairs file or the labels"
            )
        self.pairs_per_batch = max(1, int(pairs_per_batch))
        super().__init__(labels, -(-len(i) // self.pairs_per_batch))
        self.i, self.j, self.same, self.shuffle = i, j, same, shuffle

    def __len__(self) -> int:
        return len(self.i)

    def epoch(self, rng: np.random.Generator) -> Iterator[Batch]:
        order = self._order(rng)
        for start in range(0, len(order), self.pairs_per_batch):
            yield self._batch(order[start : start + self.pairs_per_batch])

    def _order(self, rng: np.random.Generator) -> np.ndarray:
        """Both kinds, each shuffled (or in list order), interleaved in proportion."""
        keys = np.empty(len(self.i))
        for kind in (True, False):
            idx = np.flatnonzero(self.same == kind)
            if self.shuffle:
                idx = rng.permutation(idx)
            keys[idx] = (np.arange(len(idx)) + 0.5) / len(idx)  # where in its kind's run
        return np.argsort(keys, kind="stable")

    def make_batch(self, rng: np.random.Generator) -> Batch:
        """One batch of pairs drawn at random (without replacement within the batch)."""
        k = min(self.pairs_per_batch, len(self.i))
        return self._batch(rng.choice(len(self.i), size=k, replace=False))

    def _batch(self, picked: np.ndarray) -> Batch:
        pos, neg = picked[self.same[picked]], picked[~self.same[picked]]
        indices, tuples = unique_batch(
            self.labels, self.i[pos], self.j[pos], self.i[neg], self.j[neg]
        )
        return Batch(indices=indices, labels=self.labels[indices], tuples=tuples)
