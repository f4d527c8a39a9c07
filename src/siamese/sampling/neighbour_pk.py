"""P x K batches of look-alike classes: class-neighbour sampling for in-batch mining.

With random P x K batches over thousands of classes, almost every in-batch negative comes from a
class that looks nothing like the anchor, and online mining has little to mine. Here each batch is
built from groups of classes that are close in the model's own embedding: a seed class drawn at
random, then classes drawn from its ``pool`` nearest classes (by distance between class centroids).
The centroids are re-measured at every refresh (once per epoch), from ``per_class`` items of each
class, so the cost is one pass over ``per_class`` x classes items, not the whole training set.
This is the class-level hard example mining of Suh et al. (CVPR 2019), with the randomness of a
pool so that near-duplicate classes do not meet in every batch.
"""

from __future__ import annotations

from collections.abc import Callable

import faiss
import numpy as np

from siamese.errors import ConfigError
from siamese.sampling._batch import Batch
from siamese.sampling.pk_generator import PKGenerator


class NeighbourPKGenerator(PKGenerator):
    """Each batch: ``p`` classes in groups of ``group`` look-alike classes, ``k`` items of each.

    Args:
        labels: ``(N,)`` labels of the training items.
        p, k, steps_per_epoch: as ``PKGenerator``.
        group: classes per group (a seed class and ``group - 1`` of its neighbours).
        pool: the neighbours a group draws from: the seed's ``pool`` nearest classes.
        per_class: items of each class embedded at a refresh to place the class centroids.
        seed: chooses those items (fixed for the whole run).

    Until the first ``refresh`` (the trainer calls it before training), batches are plain P x K.

    Raises:
        ConfigError: ``group`` < 2, ``pool`` < ``group`` - 1 or ``per_class`` < 1.
    """

    def __init__(
        self,
        labels: np.ndarray,
        p: int = 16,
        k: int = 4,
        steps_per_epoch: int = 100,
        *,
        group: int = 8,
        pool: int = 32,
        per_class: int = 2,
        seed: int = 0,
    ):
        super().__init__(labels, p, k, steps_per_epoch)
        if group < 2 or pool < group - 1 or per_class < 1:
            raise ConfigError(
                "sampling: neighbour groups need group >= 2, pool >= group - 1 and per_class >= 1, "
                f"got group {group}, pool {pool}, per_class {per_class}"
            )
        self.group, self.pool = int(group), min(int(pool), len(self.classes) - 1)
        rng = np.random.default_rng(seed)
        picks = [
            rng.choice(self.by_class[int(c)], size=min(per_class, len(self.by_class[int(c)])))
            for c in self.classes
        ]
        self.refresh_indices = np.sort(np.concatenate(picks)).astype(np.int64)
        self.neighbours: np.ndarray | None = None  # (C, pool) class labels, nearest first
        self._pairable = {int(c) for c in self.multi}

    def refresh(self, embed_fn: Callable[[], np.ndarray]) -> None:
        """Place each class at the mean of its ``refresh_indices`` items' embeddings (``embed_fn()``
        gives them in that order) and find every class's ``pool`` nearest classes."""
        emb = np.asarray(embed_fn(), dtype=np.float32)
        if len(emb) != len(self.refresh_indices):
            raise ValueError(
                f"refresh: expected {len(self.refresh_indices)} embeddings (refresh_indices), "
                f"got {len(emb)}"
            )
        pos = np.searchsorted(self.classes, self.labels[self.refresh_indices])
        centroids = np.zeros((len(self.classes), emb.shape[1]), dtype=np.float32)
        np.add.at(centroids, pos, emb)
        centroids /= np.bincount(pos, minlength=len(self.classes))[:, None]
        index = faiss.IndexFlatL2(centroids.shape[1])
        index.add(np.ascontiguousarray(centroids))
        _, near = index.search(np.ascontiguousarray(centroids), self.pool + 1)
        # drop each class itself (first, unless tied with a duplicate centroid)
        own = np.arange(len(self.classes))[:, None]
        near = np.array(
            [row[row != i][: self.pool] for row, i in zip(near, own[:, 0], strict=True)]
        )
        self.neighbours = self.classes[near]

    def make_batch(self, rng: np.random.Generator) -> Batch:
        if self.neighbours is None:
            return super().make_batch(rng)
        chosen: list[int] = []
        taken: set[int] = set()
        seeds = rng.permutation(self.multi)
        for s in seeds:
            if len(chosen) >= self.p:
                break
            if int(s) in taken:
                continue
            members = [int(s)]
            row = self.neighbours[np.searchsorted(self.classes, s)]
            for c in rng.permutation(row):
                if len(members) >= min(self.group, self.p - len(chosen)):
                    break
                c = int(c)
                if c not in taken and c not in members and c in self._pairable:
                    members.append(c)
            chosen += members
            taken.update(members)
        return self.batch_of(chosen, rng)
