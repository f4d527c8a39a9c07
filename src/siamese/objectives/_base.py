"""The base class of every objective: it owns the flow and the checks."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from siamese.objectives._tuples import (
    all_pairs,
    all_triplets,
    check_tuples,
    triplets_to_pairs,
)
from siamese.objectives.distances import Distance


class Objective(nn.Module):
    """Turns a batch of embeddings and index tuples into a scalar loss.

    Subclasses set ``tuple_kind`` (``"pairs"`` or ``"triplets"``) and fill in ``compute_loss``.
    ``forward`` accepts the tuples a generator made, or builds every valid tuple from ``labels``
    (a P x K batch), and converts triplets to pairs for pair objectives.

    After each call ``last_stats`` holds diagnostics (mean distances, fraction of active terms)
    that the trainer's collapse detector reads.
    """

    tuple_kind = "pairs"
    needs_head = False
    distance: Distance

    def __init__(self) -> None:
        super().__init__()
        self.last_stats: dict[str, float] = {}

    def forward(
        self,
        embeddings: torch.Tensor,  # (B, D)
        labels: torch.Tensor | None = None,  # (B,)
        tuples: tuple | None = None,
        head: nn.Module | None = None,
    ) -> torch.Tensor:
        if tuples is None:
            if labels is None:
                raise ValueError("objective: give either labels or index tuples")
            tuples = all_pairs(labels) if self.tuple_kind == "pairs" else all_triplets(labels)
        elif self.tuple_kind == "pairs" and len(tuples) == 3:
            tuples = triplets_to_pairs(tuples)
        elif self.tuple_kind == "triplets" and len(tuples) == 4:
            raise ValueError(
                f"{type(self).__name__} needs triplets (a, p, n); the sampler gave pairs. "
                "Use sampling.kind = 'triplets' or 'pk'"
            )
        check_tuples(tuples, self.tuple_kind, embeddings.shape[0])
        if self.needs_head and head is None:
            raise ValueError(f"{type(self).__name__} needs the model's pair head")
        # no tuple at all: for pairs, neither a same nor a different pair (a batch of only
        # different pairs still has a loss: BCE's and contrastive's negative terms)
        if tuples[0].numel() == 0 and (self.tuple_kind != "pairs" or tuples[2].numel() == 0):
            self.last_stats = {}
            return embeddings.sum() * 0.0  # keeps the graph; no valid tuple in this batch
        return self.compute_loss(embeddings, tuples, head)

    def compute_loss(
        self, embeddings: torch.Tensor, tuples: tuple, head: nn.Module | None
    ) -> torch.Tensor:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """Name and arguments, enough to rebuild the objective (saved in model.json)."""
        raise NotImplementedError
