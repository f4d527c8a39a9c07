"""Koch et al.'s objective: the pair head's sigmoid output trained with binary cross-entropy."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from siamese.objectives._base import Objective
from siamese.objectives.distances import L1


class KochBCELoss(Objective):
    """Binary cross-entropy on ``sigmoid(w . |e1 - e2| + b)``, target 1 for same-class pairs.

    The head (``PairHead``) belongs to the model, so it is saved with it; the trainer passes it in.
    """

    tuple_kind = "pairs"
    needs_head = True

    def __init__(self) -> None:
        super().__init__()
        self.distance = L1()

    def compute_loss(
        self, embeddings: torch.Tensor, tuples: tuple, head: nn.Module | None
    ) -> torch.Tensor:
        a1, p, a2, n = tuples
        left = torch.cat([a1, a2])
        right = torch.cat([p, n])
        target = torch.cat([torch.ones(len(a1)), torch.zeros(len(a2))]).to(embeddings)
        logits = head(embeddings[left], embeddings[right])  # (P + N,)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        with torch.no_grad():
            pred = (logits > 0).float()
            self.last_stats = {"pair_accuracy": float((pred == target).float().mean())}
        return loss

    def config(self) -> dict[str, Any]:
        return {"name": "koch_bce"}
