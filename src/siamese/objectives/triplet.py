"""Triplet loss: ``max(d(a, p) - d(a, n) + margin, 0)``, averaged over the batch."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from siamese.objectives._base import Objective
from siamese.objectives.distances import Distance, SquaredEuclidean, get_distance


class TripletLoss(Objective):
    """Standard triplet loss (Schroff et al. 2015).

    Args:
        margin: how much farther the negative must be than the positive.
        distance: ``SquaredEuclidean()`` by default; ``Cosine()`` makes the margin independent of
            the embedding's scale.
    """

    tuple_kind = "triplets"

    def __init__(self, margin: float = 0.2, distance: Distance | str | None = None):
        super().__init__()
        if margin < 0:
            raise ValueError(f"TripletLoss margin: expected >= 0, got {margin}")
        self.margin = float(margin)
        self.distance = SquaredEuclidean() if distance is None else get_distance(distance)

    def compute_loss(self, embeddings: torch.Tensor, tuples: tuple, head: Any) -> torch.Tensor:
        a, p, n = tuples
        d_ap = self.distance.pairwise(embeddings[a], embeddings[p])  # (T,)
        d_an = self.distance.pairwise(embeddings[a], embeddings[n])  # (T,)
        losses = F.relu(d_ap - d_an + self.margin)  # (T,)
        with torch.no_grad():
            self.last_stats = {
                "d_pos": float(d_ap.mean()),
                "d_neg": float(d_an.mean()),
                "active_fraction": float((losses > 0).float().mean()),
                "triplet_accuracy": float((d_ap < d_an).float().mean()),
                # The loss sitting at the margin (d_ap == d_an for all) is the sign of collapse.
                "at_margin_fraction": float(
                    ((losses - self.margin).abs() < 1e-3 * max(self.margin, 1e-6) + 1e-6)
                    .float()
                    .mean()
                ),
            }
        return losses.mean()

    def config(self) -> dict[str, Any]:
        return {"name": "triplet", "margin": self.margin, "distance": self.distance.name}
