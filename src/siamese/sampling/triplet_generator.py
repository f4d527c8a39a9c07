"""Random triplets: an anchor, a positive of its class, a negative of another class."""

from __future__ import annotations

import numpy as np

from siamese.sampling._batch import Batch, BatchGenerator, unique_batch


class TripletGenerator(BatchGenerator):
    """Each batch holds ``triplets_per_batch`` triplets with anchors from classes of 2+ items."""

    def __init__(
        self, labels: np.ndarray, triplets_per_batch: int = 32, steps_per_epoch: int = 100
    ):
        super().__init__(labels, steps_per_epoch)
        self.require_positives("triplet generator")
        self.triplets_per_batch = max(1, int(triplets_per_batch))

    def make_batch(self, rng: np.random.Generator) -> Batch:
        cls = rng.choice(self.multi, size=self.triplets_per_batch)
        a, p = np.array([self._two_from(rng, int(c)) for c in cls]).T
        n = self._item_of(rng, self._other_class(rng, cls))
        indices, tuples = unique_batch(self.labels, a, p, n)
        return Batch(indices=indices, labels=self.labels[indices], tuples=tuples)
