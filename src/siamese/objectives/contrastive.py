"""Contrastive loss (Hadsell, Chopra, LeCun 2006) with an explicit label convention."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from siamese.objectives._base import Objective
from siamese.objectives.distances import Distance, Euclidean, get_distance


class ContrastiveLoss(Objective):
    """``y * d^2 + (1 - y) * max(margin - d, 0)^2``, averaged over pairs.

    Label convention: **y = 1 means the two items are of the same class (similar), y = 0 means
    different classes.** (Hadsell et al. write it the other way round; this library never does.)
    With index tuples ``(a1, p, a2, n)`` the labels are implied: ``(a1, p)`` are y = 1 pairs.

    Args:
        margin: the distance beyond which different-class pairs cost nothing.
        distance: ``Euclidean()`` (default) or ``Cosine()`` (then a margin in (0, 2]).
    """

    tuple_kind = "pairs"

    def __init__(self, margin: float = 1.0, distance: Distance | str = "euclidean"):
        super().__init__()
        if margin <= 0:
            raise ValueError(f"ContrastiveLoss margin: expected > 0, got {margin}")
        self.margin = float(margin)
        self.distance = (
            get_distance(distance) if isinstance(distance, str) else distance or Euclidean()
        )

    def pair_loss(self, e1: torch.Tensor, e2: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss for explicit pairs ``(e1[i], e2[i])`` with labels ``y[i]`` (1 = same class, 0 = different).

        Raises:
            ValueError: a label other than 0 or 1.
        """
        y = torch.as_tensor(y)
        bad = ~((y == 0) | (y == 1))
        if bad.any():
            raise ValueError(
                "ContrastiveLoss labels: expected 1 for same-class (similar) pairs and 0 for "
                f"different-class pairs, got {sorted(set(y[bad].tolist()))[:5]}"
            )
        d = self.distance.pairwise(e1, e2)  # (N,)
        y = y.to(d)
        return (y * d**2 + (1 - y) * F.relu(self.margin - d) ** 2).mean()

    def compute_loss(self, embeddings: torch.Tensor, tuples: tuple, head: Any) -> torch.Tensor:
        a1, p, a2, n = tuples
        d_pos = self.distance.pairwise(embeddings[a1], embeddings[p])  # (P,)
        d_neg = self.distance.pairwise(embeddings[a2], embeddings[n])  # (N,)
        terms = torch.cat([d_pos**2, F.relu(self.margin - d_neg) ** 2])
        with torch.no_grad():
            self.last_stats = {
                "d_pos": float(d_pos.mean()) if len(d_pos) else 0.0,
                "d_neg": float(d_neg.mean()) if len(d_neg) else 0.0,
                "active_fraction": float((d_neg < self.margin).float().mean())
                if len(d_neg)
                else 0.0,
            }
        return terms.mean()

    def config(self) -> dict[str, Any]:
        return {"name": "contrastive", "margin": self.margin, "distance": self.distance.name}
