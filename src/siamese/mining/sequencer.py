"""Scheduled hardness sequencing: a schedule becomes an ordered list of triplets.

Triplet ``i`` of ``T`` gets the target hardness ``schedule(i / (T - 1))`` and the candidate
negative whose hardness (see ``siamese.mining.hardness``) is closest to it. Anchors follow
concatenated random permutations of the classes, so every class serves as anchor; triplets are
meant to be fed in this order, without shuffling.
"""

from __future__ import annotations

import numpy as np

from siamese.mining._base import TripletMiner
from siamese.mining.hardness import hardness_of, negative_range
from siamese.mining.negative_search import Candidates, NegativeSearch, SearchOptions
from siamese.mining.schedules import Schedule, create_schedule


class HardnessSequencer(TripletMiner):
    """Ordered triplets whose hardness follows a schedule.

    Args:
        schedule: a ``Schedule`` or a schedule name (built with default arguments).
        distance: ``"euclidean"`` or ``"cosine"``: the distance hardness is measured with.
        reference_mask: ``(N,)`` booleans marking catalog reference items (anchors), photos
            being the positives.
        allow_self_positive: let single-item classes serve as anchor with themselves as
            positive (otherwise they only serve as negatives).
        search: candidate search sizes and the exact/approximate choice.
        seed: drives anchor order, positives and random candidates.

    Example:
        >>> seq = HardnessSequencer("sigmoid")
        >>> triplets = seq.mine(labels, features, total=10_000)   # doctest: +SKIP
        >>> triplets.mae()                                         # doctest: +SKIP
    """

    name = "sequencer"

    def __init__(
        self,
        schedule: Schedule | str,
        *,
        distance: str = "euclidean",
        reference_mask: np.ndarray | None = None,
        allow_self_positive: bool = False,
        search: SearchOptions | None = None,
        seed: int = 0,
    ):
        super().__init__(
            distance=distance,
            reference_mask=reference_mask,
            allow_self_positive=allow_self_positive,
            search=search,
            seed=seed,
        )
        self.schedule = create_schedule(schedule) if isinstance(schedule, str) else schedule
        self.name = self.schedule.name

    def targets(self, total: int) -> np.ndarray:
        return self.schedule.over(total)

    def choose(
        self,
        search: NegativeSearch,
        cands: Candidates,
        anchor: np.ndarray,
        target: np.ndarray,
        d_ap: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = negative_range(cands.dist, cands.valid)  # (B,), (B,)
        h = hardness_of(cands.dist, lo[:, None], hi[:, None])  # (B, C)
        err = np.where(cands.valid, np.abs(h - target[:, None]), np.inf)
        col = err.argmin(axis=1)  # (B,)
        rows = np.arange(len(anchor))
        return cands.index[rows, col], cands.dist[rows, col]
