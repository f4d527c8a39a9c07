"""The base class of offline triplet miners: it owns the flow, subclasses choose the negatives.

Flow: plan anchors and positives (every class as anchor, feature-free) -> targets -> candidate
negatives from a ``NegativeSearch``, searched once per distinct anchor (``_candidate_table.py``)
-> for each chunk of triplets, the subclass's ``choose`` -> achieved hardness with the one
definition in ``hardness.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from siamese.errors import DataError
from siamese.mining._anchors import AnchorPlan, plan_anchors
from siamese.mining._candidate_table import by_anchor
from siamese.mining._memory import check_fits, mining_bytes
from siamese.mining.hardness import hardness_of, negative_range
from siamese.mining.mined_triplets import MinedTriplets
from siamese.mining.negative_search import Candidates, NegativeSearch, SearchOptions

Features = np.ndarray | Callable[[], np.ndarray]


class TripletMiner:
    """Base class: ordered triplets whose negatives a subclass chooses among candidates.

    Args:
        distance: ``"euclidean"`` or ``"cosine"``: the distance hardness is measured with.
        reference_mask: ``(N,)`` booleans marking catalog reference items; anchors then come
            from them and positives are non-reference items (photos) of the same class.
        allow_self_positive: let a class without a second usable item serve as anchor with the
            anchor as its own positive (otherwise such classes are skipped as anchors).
        search: candidate search sizes and the exact/approximate choice.
        seed: drives anchor order, positives and random candidates.
    """

    name = "miner"
    needs_features = True

    def __init__(
        self,
        *,
        distance: str = "euclidean",
        reference_mask: np.ndarray | None = None,
        allow_self_positive: bool = False,
        search: SearchOptions | None = None,
        seed: int = 0,
    ):
        self.distance = distance
        self.reference_mask = reference_mask
        self.allow_self_positive = allow_self_positive
        self.search_options = search or SearchOptions()
        self.seed = int(seed)

    # -- hooks -----------------------------------------------------------------------------
    def targets(self, total: int) -> np.ndarray:
        """``(T,)`` target hardness of each position (``nan`` when the rule has no target)."""
        return np.full(total, np.nan)

    def choose(
        self,
        search: NegativeSearch,
        cands: Candidates,
        anchor: np.ndarray,
        target: np.ndarray,
        d_ap: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pick one negative per anchor: ``(B,)`` dataset positions and their distances."""
        raise NotImplementedError

    # -- flow ------------------------------------------------------------------------------
    def plan(self, labels: np.ndarray, total: int) -> tuple[AnchorPlan, np.ndarray]:
        """Anchors, positives and targets for ``total`` triplets (no features needed)."""
        rng = np.random.default_rng([self.seed, 1])
        plan = plan_anchors(
            labels,
            total,
            rng,
            reference_mask=self.reference_mask,
            allow_self_positive=self.allow_self_positive,
        )
        return plan, self.targets(total)

    def build_search(self, labels: np.ndarray, features: Features) -> NegativeSearch:
        """A ``NegativeSearch`` over ``features`` (an array or a callable returning one)."""
        x = features() if callable(features) else features
        return NegativeSearch(
            np.asarray(x),
            labels,
            distance=self.distance,
            options=self.search_options,
            seed=self.seed,
        )

    def check_memory(self, labels: np.ndarray, features: np.ndarray | None, total: int) -> None:
        """Refuse up front (``ConfigError``) a job whose estimate exceeds the available memory."""
        n = len(labels)
        x = None if features is None else np.asarray(features)
        dim = 0 if x is None or x.ndim != 2 else x.shape[1]
        largest = int(np.bincount(labels - labels.min()).max()) if n else 1
        copy = x is not None and (
            x.dtype != np.float32 or not x.flags.c_contiguous or self.distance == "cosine"
        )
        need = mining_bytes(
            n,
            dim,
            total,
            self.search_options,
            largest=largest,
            copy_features=copy,
            with_features=x is not None,
        )
        check_fits(f"mining {total:,} triplets over {n:,} items of {dim}-d features", need)

    def negatives(
        self,
        search: NegativeSearch | None,
        labels: np.ndarray,
        anchor: np.ndarray,
        positive: np.ndarray,
        target: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Negatives ``(T,)`` and their achieved hardness ``(T,)`` for planned anchors."""
        total = len(anchor)
        neg = np.empty(total, dtype=np.int64)
        achieved = np.full(total, np.nan)
        if search is None:
            if self.needs_features:
                raise DataError(
                    f"{self.name} mining needs features: pass features= or call refresh(embed_fn)"
                )
            neg[:] = _uniform_negatives(labels, anchor, rng)
            return neg, achieved
        step = search.options.chunk
        for pos, table, slot in by_anchor(search, anchor):
            for s in range(0, len(pos), step):
                i = pos[s : s + step]  # triplet positions, in sequence order
                a, t = anchor[i], target[i]
                cands = table.rows(slot[s : s + step])
                d_ap = search.distance(a, positive[i])
                n, d_n = self.choose(search, cands, a, t, d_ap, rng)
                lo, hi = negative_range(cands.dist, cands.valid)
                # The chosen negative is a known negative too: the range always contains it.
                lo, hi = np.fmin(lo, d_n), np.fmax(hi, d_n)
                neg[i] = n
                achieved[i] = hardness_of(d_n, lo, hi)
        return neg, achieved

    def mine(self, labels: np.ndarray, features: Features | None, total: int) -> MinedTriplets:
        """``total`` ordered triplets over ``labels``, negatives measured in ``features``.

        Args:
            labels: ``(N,)`` integer labels.
            features: ``(N, D)`` features, a callable returning them (a frozen encoder), or
                ``None`` for rules that need none (``random``).
            total: the number of triplets ``T``.

        Returns:
            ``MinedTriplets`` in feeding order, with target and achieved hardness.

        Raises:
            DataError: bad features, no class able to serve as anchor, or features missing.
            ConfigError: the job's memory estimate exceeds the memory available (checked
                before anything is allocated).
        """
        labels = np.asarray(labels, dtype=np.int64)
        if len(np.unique(labels)) < 2:
            raise DataError(
                f"labels: a negative needs at least 2 classes, got {len(np.unique(labels))}"
            )
        x = features() if callable(features) else features
        self.check_memory(labels, x, total)
        plan, target = self.plan(labels, total)
        search = None if x is None else self.build_search(labels, x)
        rng = np.random.default_rng([self.seed, 2])
        neg, achieved = self.negatives(search, labels, plan.anchor, plan.positive, target, rng)
        return MinedTriplets(plan.anchor, plan.positive, neg, target, achieved, self.name)


def _uniform_negatives(
    labels: np.ndarray, anchor: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One item of another class per anchor, uniform over items, without features."""
    neg = rng.integers(len(labels), size=len(anchor))
    bad = labels[neg] == labels[anchor]
    while bad.any():
        neg[bad] = rng.integers(len(labels), size=int(bad.sum()))
        bad = labels[neg] == labels[anchor]
    return neg
