"""Multi-similarity loss (Wang et al. 2019): every pair of a batch, weighted by how informative."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import reducers as pml_reducers

from siamese.objectives._base import Objective
from siamese.objectives.distances import Cosine


class MultiSimilarityLoss(Objective):
    """Per anchor ``i``, over its positives ``P_i`` and negatives ``N_i`` in the batch:

    ``1/alpha * log(1 + sum_P exp(-alpha (S_ip - base))) + 1/beta * log(1 + sum_N exp(beta (S_in - base)))``

    with ``S`` the cosine similarity. Unlike a triplet, each anchor's term weighs all its pairs at
    once, the hardest most (a soft maximum), and looks at both how far its positives are and how
    close its negatives are. Pairs come from the tuples given (e.g. an online miner's triplets) or,
    by default, every pair of the P x K batch, counted from both of their items.

    Args:
        alpha: sharpness over positives (Wang et al.: 2).
        beta: sharpness over negatives (Wang et al.: 50).
        base: the similarity ``lambda`` that separates pulling from pushing (Wang et al.: 0.5 to 1).
    """

    tuple_kind = "pairs"

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5):
        super().__init__()
        if alpha <= 0 or beta <= 0:
            raise ValueError(
                f"MultiSimilarityLoss: alpha and beta must be > 0, got {alpha}, {beta}"
            )
        if not -1.0 <= base <= 1.0:
            raise ValueError(f"MultiSimilarityLoss base: expected a cosine in [-1, 1], got {base}")
        self.distance = Cosine()
        # the mean over anchors that take part in a pair (the others' terms are exactly 0)
        self._pml = pml_losses.MultiSimilarityLoss(
            alpha=float(alpha),
            beta=float(beta),
            base=float(base),
            reducer=pml_reducers.AvgNonZeroReducer(),
        )

    def compute_loss(self, embeddings: torch.Tensor, tuples: tuple, head: Any) -> torch.Tensor:
        a1, p, a2, n = tuples
        # each pair counts for both of its items as anchor (pytorch-metric-learning reads a1 -> p)
        both = (torch.cat([a1, p]), torch.cat([p, a1]), torch.cat([a2, n]), torch.cat([n, a2]))
        loss = self._pml(embeddings, indices_tuple=both)
        with torch.no_grad():
            e = F.normalize(embeddings, dim=1, eps=1e-8)
            s_pos, s_neg = (e[a1] * e[p]).sum(1), (e[a2] * e[n]).sum(1)
            self.last_stats = {
                "d_pos": float(1.0 - s_pos.mean()) if s_pos.numel() else 0.0,
                "d_neg": float(1.0 - s_neg.mean()) if s_neg.numel() else 0.0,
            }
        return loss

    def config(self) -> dict[str, Any]:
        return {
            "name": "multi_similarity",
            "alpha": self._pml.alpha,  # the settings live in the wrapped loss only
            "beta": self._pml.beta,
            "base": self._pml.base,
            "distance": "cosine",
        }
