"""Online (in-batch) miners: batch-hard, batch-all and semi-hard, over pytorch-metric-learning.

All three read a batch's embeddings and labels and return triplets as index tuples into the
batch, in pytorch-metric-learning's ``indices_tuple`` convention:

* ``batch_hard``: for each anchor that has a positive and a negative in the batch, its farthest
  positive and its nearest negative (Hermans et al. 2017).
* ``batch_all``: every valid triplet that violates the margin, ``d(a, n) - d(a, p) <= margin``
  (those with a non-zero triplet loss).
* ``semi_hard``: every valid triplet in the semi-hard band ``0 < d(a, n) - d(a, p) <= margin``.

Distances are ``siamese.objectives.distances`` objects, translated to the library's own.
"""

from __future__ import annotations

import torch
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import miners as pml_miners

from siamese.errors import ConfigError
from siamese.objectives.distances import (
    L1,
    Cosine,
    Distance,
    Euclidean,
    SquaredEuclidean,
    get_distance,
)

ONLINE_STRATEGIES = ("batch_hard", "batch_all", "semi_hard")
Triplets = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _pml_distance(distance: Distance) -> pml_distances.BaseDistance:
    """The pytorch-metric-learning distance computing the same values (or, for cosine, 1 - them)."""
    if isinstance(distance, Cosine):
        return pml_distances.CosineSimilarity()  # similarity: the miners invert comparisons
    powers = {Euclidean: (2, 1), SquaredEuclidean: (2, 2), L1: (1, 1)}
    for cls, (p, power) in powers.items():
        if type(distance) is cls:
            return pml_distances.LpDistance(p=p, power=power, normalize_embeddings=False)
    raise ConfigError(
        f"online mining: no miner distance for {distance!r}; use euclidean, squared_euclidean, "
        "cosine or l1"
    )


class OnlineMiner:
    """Forms triplets inside a batch from its embeddings and labels.

    Args:
        strategy: ``batch_hard``, ``batch_all`` or ``semi_hard``.
        margin: the triplet margin (used by ``batch_all`` and ``semi_hard``).
        distance: a distance object or name (``euclidean``, ``squared_euclidean``, ``cosine``,
            ``l1``).

    Raises:
        ConfigError: unknown strategy or distance, or a negative margin.
    """

    def __init__(
        self, strategy: str, *, margin: float = 0.2, distance: Distance | str = "euclidean"
    ):
        if strategy not in ONLINE_STRATEGIES:
            raise ConfigError(
                f"unknown online miner {strategy!r}; valid miners: {', '.join(ONLINE_STRATEGIES)}"
            )
        if margin < 0:
            raise ConfigError(f"margin: expected a non-negative number, got {margin}")
        self.strategy, self.margin = strategy, float(margin)
        self.distance = get_distance(distance)
        pml_distance = _pml_distance(self.distance)
        if strategy == "batch_hard":
            self._miner = pml_miners.BatchHardMiner(distance=pml_distance)
        else:
            kind = "all" if strategy == "batch_all" else "semihard"
            self._miner = pml_miners.TripletMarginMiner(
                margin=self.margin, type_of_triplets=kind, distance=pml_distance
            )

    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        """Triplets of a batch.

        Args:
            embeddings: ``(B, D)`` the batch's embeddings.
            labels: ``(B,)`` their labels.

        Returns:
            ``(a, p, n)``: int64 tensors of batch positions (possibly empty).
        """
        with torch.no_grad():
            a, p, n = self._miner(embeddings.detach(), labels)
        return a.long(), p.long(), n.long()

    def __repr__(self) -> str:
        return f"OnlineMiner({self.strategy!r}, margin={self.margin}, distance={self.distance!r})"


def create_online_miner(
    strategy: str | None, margin: float = 0.2, distance: Distance | str = "euclidean"
) -> OnlineMiner | None:
    """An online miner by name, or ``None`` for ``None`` / ``"none"`` (use every batch tuple).

    Args:
        strategy: ``batch_hard``, ``batch_all``, ``semi_hard``, or ``None``/``"none"``.
        margin: the triplet margin.
        distance: the distance the objective uses.

    Raises:
        ConfigError: unknown strategy or distance.
    """
    if strategy is None or strategy == "none":
        return None
    return OnlineMiner(strategy, margin=margin, distance=distance)
