"""Balanced pairs: half same-class, half different-class."""

from __future__ import annotations

import numpy as np

from siamese.sampling._batch import Batch, BatchGenerator, unique_batch


class PairGenerator(BatchGenerator):
    """Each batch holds ``pairs_per_batch`` pairs, 50% same-class and 50% different-class.

    Same-class pairs come from classes with at least two items (drawn uniformly over such
    classes); single-item classes still appear in different-class pairs.
    """

    def __init__(self, labels: np.ndarray, pairs_per_batch: int = 32, steps_per_epoch: int = 100):
        super().__init__(labels, steps_per_epoch)
        self.require_positives("pair generator")
        self.pairs_per_batch = max(2, int(pairs_per_batch))

    def make_batch(self, rng: np.random.Generator) -> Batch:
        n_pos = self.pairs_per_batch // 2
        n_neg = self.pairs_per_batch - n_pos
        pos_cls = rng.choice(self.multi, size=n_pos)
        a1, p = np.array([self._two_from(rng, int(c)) for c in pos_cls]).T
        c2 = rng.choice(self.classes, size=n_neg)
        a2 = self._item_of(rng, c2)
        n = self._item_of(rng, self._other_class(rng, c2))
        indices, tuples = unique_batch(self.labels, a1, p, a2, n)
        return Batch(indices=indices, labels=self.labels[indices], tuples=tuples)
