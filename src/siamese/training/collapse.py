"""Detection of embedding collapse: everything mapped to (nearly) one point."""

from __future__ import annotations

from typing import Any

import numpy as np


class CollapseDetector:
    """Watches the spread of validation embeddings and the training loss sitting at the margin.

    Collapse is flagged when the mean per-dimension standard deviation of the embeddings falls
    below ``spread_ratio`` times its value before training, or when more than ``at_margin`` of
    the epoch's triplets have ``d(a,p) == d(a,n)`` (the loss equals the margin: the model no
    longer tells anything apart).
    """

    def __init__(self, spread_ratio: float = 0.05, at_margin: float = 0.9):
        self.spread_ratio = spread_ratio
        self.at_margin = at_margin
        self.initial_spread: float | None = None

    @staticmethod
    def spread(embeddings: np.ndarray) -> float:
        return float(np.asarray(embeddings).std(axis=0).mean()) if len(embeddings) > 1 else 0.0

    def check(self, embeddings: np.ndarray | None, train_stats: dict[str, Any]) -> list[str]:
        """Return the reasons for a collapse warning (empty when all is well)."""
        reasons = []
        if embeddings is not None and len(embeddings) > 1:
            s = self.spread(embeddings)
            if self.initial_spread is None:
                self.initial_spread = s
            elif self.initial_spread > 0 and s < self.spread_ratio * self.initial_spread:
                reasons.append(
                    f"embedding spread {s:.3g} fell below {self.spread_ratio:g} x its initial {self.initial_spread:.3g}"
                )
        frac = train_stats.get("at_margin_fraction")
        if frac is not None and frac > self.at_margin:
            reasons.append(f"{frac:.0%} of triplets sit at the margin (d(a,p) = d(a,n))")
        return reasons

    def state_dict(self) -> dict[str, Any]:
        return {"initial_spread": self.initial_spread}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.initial_spread = state.get("initial_spread")
