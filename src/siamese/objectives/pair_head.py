"""Koch et al.'s pair head: ``|e1 - e2| -> linear -> sigmoid``."""

from __future__ import annotations

import torch
from torch import nn


class PairHead(nn.Module):
    """Weighted L1 distance between two embeddings, mapped to a same-class logit.

    ``forward`` returns logits (apply ``sigmoid`` for the probability that the two inputs are of
    the same class); training uses ``BCEWithLogits`` on them for numerical stability.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.linear = nn.Linear(dim, 1)
        nn.init.normal_(self.linear.weight, 0.0, 0.2)  # Koch et al.: N(0, 0.2) for the last layer
        nn.init.normal_(self.linear.bias, 0.5, 0.01)

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        return self.linear((e1 - e2).abs()).squeeze(-1)  # (N,) logits

    def probability(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward(e1, e2))  # (N,) in (0, 1), higher = more alike
