"""P classes x K items per batch, for in-batch (online) mining."""

from __future__ import annotations

import numpy as np

from siamese.sampling._batch import Batch, BatchGenerator


class PKGenerator(BatchGenerator):
    """Each batch: ``p`` classes drawn without replacement, ``k`` items of each.

    A class with fewer than ``k`` items gives all of them (never duplicates, so no item is its
    own positive). The objective, or an online miner, forms pairs or triplets from the labels.
    """

    def __init__(self, labels: np.ndarray, p: int = 16, k: int = 4, steps_per_epoch: int = 100):
        super().__init__(labels, steps_per_epoch)
        self.require_positives("P x K generator")
        self.p = max(2, min(int(p), len(self.classes)))
        self.k = max(2, int(k))

    def make_batch(self, rng: np.random.Generator) -> Batch:
        # At least half the classes of a batch must be able to give a positive.
        n_multi = min(len(self.multi), self.p)
        chosen = list(rng.choice(self.multi, size=n_multi, replace=False))
        if n_multi < self.p:
            rest = np.setdiff1d(self.classes, chosen)
            chosen += list(rng.choice(rest, size=min(len(rest), self.p - n_multi), replace=False))
        return self.batch_of(chosen, rng)

    def batch_of(self, classes: list, rng: np.random.Generator) -> Batch:
        """The batch of ``k`` items (or all, when fewer) of each of ``classes``."""
        idx = []
        for c in classes:
            items = self.by_class[int(c)]
            idx.append(rng.choice(items, size=min(self.k, len(items)), replace=False))
        indices = np.concatenate(idx).astype(np.int64)
        return Batch(indices=indices, labels=self.labels[indices], tuples=None)
