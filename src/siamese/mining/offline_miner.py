"""Offline miners: random, easiest, hardest and semi-hard negatives, in the sequencer's format.

Rules (``d`` is the distance hardness is measured with, ``p`` the triplet's positive):

* ``random``: a negative drawn uniformly over the items of other classes (needs no features).
* ``easiest``: the farthest negative (hardness 0).
* ``hardest``: the nearest negative (hardness 1).
* ``semi_hard``: a negative drawn uniformly among the candidates in FaceNet's semi-hard band
  ``d(a, p) < d(a, n) < d(a, p) + margin``; when the band is empty, the nearest negative
  farther than the positive; when no negative is farther than the positive, the farthest one.

Negatives are chosen among the candidates of ``NegativeSearch``: in exact mode the nearest and
farthest negatives are always among them, so ``easiest`` and ``hardest`` are exact; ``semi_hard``
draws from the whole band when the candidates cover every negative (small problems), and
otherwise from the band's members among the ``k_near`` nearest and the random candidates.
"""

from __future__ import annotations

import numpy as np

from siamese.errors import ConfigError
from siamese.mining._base import TripletMiner, _uniform_negatives
from siamese.mining.negative_search import Candidates, NegativeSearch, SearchOptions

OFFLINE_RULES = ("random", "easiest", "hardest", "semi_hard")


class OfflineMiner(TripletMiner):
    """Ordered triplets whose negatives follow a fixed rule.

    Args:
        rule: one of ``random``, ``easiest``, ``hardest``, ``semi_hard``.
        margin: the width of the semi-hard band (in units of the distance).
        distance, reference_mask, allow_self_positive, search, seed: as for ``TripletMiner``.

    Raises:
        ConfigError: unknown rule or a negative margin.
    """

    def __init__(
        self,
        rule: str,
        *,
        margin: float = 0.2,
        distance: str = "euclidean",
        reference_mask: np.ndarray | None = None,
        allow_self_positive: bool = False,
        search: SearchOptions | None = None,
        seed: int = 0,
    ):
        if rule not in OFFLINE_RULES:
            raise ConfigError(
                f"unknown offline miner {rule!r}; valid miners: {', '.join(OFFLINE_RULES)}"
            )
        if margin < 0:
            raise ConfigError(f"margin: expected a non-negative number, got {margin}")
        super().__init__(
            distance=distance,
            reference_mask=reference_mask,
            allow_self_positive=allow_self_positive,
            search=search,
            seed=seed,
        )
        self.rule, self.margin, self.name = rule, float(margin), rule
        self.needs_features = rule != "random"

    def targets(self, total: int) -> np.ndarray:
        fixed = {"easiest": 0.0, "hardest": 1.0}.get(self.rule, np.nan)
        return np.full(total, fixed)

    def choose(
        self,
        search: NegativeSearch,
        cands: Candidates,
        anchor: np.ndarray,
        target: np.ndarray,
        d_ap: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(anchor))
        if self.rule == "random":
            neg = _uniform_negatives(search.labels, anchor, rng)
            return neg, search.distance(anchor, neg)
        d = cands.dist  # (B, C)
        if self.rule == "hardest":
            col = np.where(cands.valid, d, np.inf).argmin(axis=1)
        elif self.rule == "easiest":
            col = np.where(cands.valid, d, -np.inf).argmax(axis=1)
        else:
            beyond = cands.valid & (d > d_ap[:, None])  # (B, C)
            band = beyond & (d < d_ap[:, None] + self.margin)  # (B, C)
            in_band = np.where(band, rng.random(d.shape), -1.0).argmax(axis=1)  # uniform in band
            nearest_beyond = np.where(beyond, d, np.inf).argmin(axis=1)
            farthest = np.where(cands.valid, d, -np.inf).argmax(axis=1)
            col = np.where(
                band.any(axis=1), in_band, np.where(beyond.any(axis=1), nearest_beyond, farthest)
            )
        return cands.index[rows, col], d[rows, col]
