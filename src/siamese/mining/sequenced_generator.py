"""Serve a mined triplet sequence, in order, as training batches.

The anchors, positives and target hardness of the whole run (``triplets_per_batch`` x
``steps_per_epoch`` x ``epochs`` triplets) are planned once, from the seed. Negatives are chosen
lazily, a block of batches ahead, in the feature space of the last ``refresh``: so re-embedding
the training set with the current model every K steps re-mines everything not yet served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from siamese.errors import ConfigError
from siamese.mining._base import TripletMiner
from siamese.mining.negative_search import NegativeSearch
from siamese.sampling._batch import Batch, BatchGenerator, unique_batch


class SequencedTripletGenerator(BatchGenerator):
    """Batches of ordered, scheduled triplets (never shuffled).

    Args:
        labels: ``(N,)`` labels of the training items.
        miner: a ``HardnessSequencer`` or ``OfflineMiner`` (plans anchors, chooses negatives).
        triplets_per_batch: triplets in each batch.
        steps_per_epoch: batches per epoch.
        epochs: epochs the schedule spans (the sequence holds all their triplets).
        features: ``(N, D)`` features to measure hardness in until the first ``refresh``; ``None``
            when the trainer refreshes from the model before training.
        lookahead: batches whose negatives are chosen together (one faiss pass).

    Raises:
        DataError: no class can serve as anchor, or bad features.
    """

    def __init__(
        self,
        labels: np.ndarray,
        miner: TripletMiner,
        *,
        triplets_per_batch: int = 32,
        steps_per_epoch: int = 100,
        epochs: int = 10,
        features: np.ndarray | None = None,
        lookahead: int = 32,
    ):
        super().__init__(labels, steps_per_epoch)
        if triplets_per_batch < 1 or epochs < 1:
            raise ConfigError(
                f"sequenced generator: triplets_per_batch and epochs must be >= 1, got "
                f"{triplets_per_batch} and {epochs}"
            )
        self.miner = miner
        self.triplets_per_batch = int(triplets_per_batch)
        self.total = self.triplets_per_batch * self.steps_per_epoch * int(epochs)
        plan, target = miner.plan(self.labels, self.total)
        self.anchor, self.positive = plan.anchor, plan.positive
        self.base_target = np.asarray(target, dtype=np.float64)
        # (position, factor) of each lower_hardness, in order; factor None marks a restart
        self.lowered: list[tuple[int, float | None]] = []
        self.target = self.base_target.copy()
        self.negative = np.full(self.total, -1, dtype=np.int64)
        self.achieved = np.full(self.total, np.nan)
        self.lookahead = max(1, int(lookahead))
        self.cursor = 0  # triplets served so far (may exceed total: the sequence then repeats)
        self.search: NegativeSearch | None = None
        if features is not None:
            self.search = miner.build_search(self.labels, features)

    @property
    def position(self) -> int:
        """Where the next triplet comes from in the sequence."""
        return self.cursor % self.total

    def refresh(self, embed_fn: Callable[[], np.ndarray]) -> None:
        """Re-measure hardness in new features: ``embed_fn()`` gives ``(N, D)`` float32.

        Every negative not yet served is chosen again from the new features.
        """
        self.search = self.miner.build_search(self.labels, embed_fn())
        self.negative[self.position :] = -1

    def lower_hardness(self, factor: float = 0.5) -> None:
        """Multiply the target hardness of every triplet not yet served by ``factor``.

        Used when the trainer detects a collapse. It changes the triplets of scheduled
        strategies; the fixed rules of offline miners (hardest, ...) have no target to lower.
        """
        if not 0.0 < factor <= 1.0:
            raise ConfigError(f"lower_hardness: factor must be in (0, 1], got {factor}")
        self.lowered.append((self.position, float(factor)))
        self._apply(self.lowered[-1])
        self.negative[self.position :] = -1

    def restart(self) -> None:
        """Restart the hardness easy: the triplets not yet served follow the whole schedule again,
        from its start, compressed into what is left of the sequence (collapse recovery)."""
        self.lowered.append((self.position, None))
        self._apply(self.lowered[-1])
        self.negative[self.position :] = -1

    def _apply(self, change: tuple[int, float | None]) -> None:
        pos, factor = change
        if factor is not None:
            self.target[pos:] *= factor
            return
        left = self.total - pos
        if left > 0:
            idx = (np.arange(left) * (self.total / left)).astype(np.int64)  # 0 .. total-1
            self.target[pos:] = self.base_target[idx]

    def epoch(self, rng: np.random.Generator) -> Iterator[Batch]:
        """The next ``steps_per_epoch`` batches of the sequence (``rng`` is not needed: the
        order is fixed by the seed, and resuming uses ``load_state_dict``)."""
        for _ in range(self.steps_per_epoch):
            yield self.make_batch(rng)

    def make_batch(self, rng: np.random.Generator) -> Batch:
        start = self.position
        stop = start + self.triplets_per_batch
        if (self.negative[start:stop] < 0).any():
            self._choose(start)
        a, p, n = self.anchor[start:stop], self.positive[start:stop], self.negative[start:stop]
        indices, tuples = unique_batch(self.labels, a, p, n)
        self.cursor += self.triplets_per_batch
        if self.position == 0:  # wrapped: serve the sequence again with current features
            self.negative[:] = -1
        target, achieved = self.target[start:stop], self.achieved[start:stop]
        return Batch(
            indices=indices,
            labels=self.labels[indices],
            tuples=tuples,
            hardness=target.copy() if np.isfinite(target).any() else None,
            achieved=achieved.copy() if np.isfinite(achieved).any() else None,
        )

    def _choose(self, start: int) -> None:
        stop = min(self.total, start + self.lookahead * self.triplets_per_batch)
        sl = slice(start, stop)
        rng = np.random.default_rng([self.miner.seed, 3, start])
        neg, achieved = self.miner.negatives(
            self.search, self.labels, self.anchor[sl], self.positive[sl], self.target[sl], rng
        )
        self.negative[sl], self.achieved[sl] = neg, achieved

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to resume the sequence where it stopped."""
        return {"cursor": self.cursor, "lowered": [list(x) for x in self.lowered]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the next batch is the one after the checkpoint's last."""
        self.cursor = int(state.get("cursor", 0))
        self.target = self.base_target.copy()
        self.lowered = [
            (int(p), None if f is None else float(f)) for p, f in state.get("lowered", [])
        ]
        for change in self.lowered:
            self._apply(change)
        self.negative[:] = -1
