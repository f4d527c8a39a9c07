"""Lossless triplet loss (Arsenault 2018) for sigmoid-bounded embeddings."""

from __future__ import annotations

from typing import Any

import torch

from siamese.objectives._base import Objective
from siamese.objectives.distances import SquaredEuclidean


class LosslessTripletLoss(Objective):
    """``-ln(-d(a,p)/beta + 1 + eps) - ln(-(N - d(a,n))/beta + 1 + eps)``, averaged.

    Embeddings must lie in ``[0, 1]^N`` (a sigmoid output), so the squared euclidean distance lies
    in ``[0, N]``; ``beta`` defaults to ``N``. Unlike the hinge, the loss never becomes exactly
    zero, so easy triplets keep a (small) gradient: nothing is "lost".

    Args:
        dim: the embedding dimension ``N``.
        beta: the scaling (default ``N``).
        eps: keeps the logarithm finite at the bounds.
    """

    tuple_kind = "triplets"

    def __init__(self, dim: int, beta: float | None = None, eps: float = 1e-8):
        super().__init__()
        if dim < 1:
            raise ValueError(f"LosslessTripletLoss dim: expected >= 1, got {dim}")
        self.dim = int(dim)
        self.beta = float(beta if beta is not None else dim)
        self.eps = float(eps)
        self.distance = SquaredEuclidean()

    def compute_loss(self, embeddings: torch.Tensor, tuples: tuple, head: Any) -> torch.Tensor:
        if embeddings.min() < -1e-6 or embeddings.max() > 1 + 1e-6:
            raise ValueError(
                "LosslessTripletLoss: embeddings must lie in [0, 1] (use output_activation = "
                f"'sigmoid'), got range [{float(embeddings.min()):.3g}, {float(embeddings.max()):.3g}]"
            )
        a, p, n = tuples
        d_ap = self.distance.pairwise(embeddings[a], embeddings[p])  # (T,)
        d_an = self.distance.pairwise(embeddings[a], embeddings[n])  # (T,)
        pos = -torch.log(-d_ap / self.beta + 1 + self.eps)
        neg = -torch.log(-(self.dim - d_an) / self.beta + 1 + self.eps)
        with torch.no_grad():
            self.last_stats = {
                "d_pos": float(d_ap.mean()),
                "d_neg": float(d_an.mean()),
                "triplet_accuracy": float((d_ap < d_an).float().mean()),
            }
        return (pos + neg).mean()

    def config(self) -> dict[str, Any]:
        return {"name": "lossless_triplet", "dim": self.dim, "beta": self.beta, "eps": self.eps}
