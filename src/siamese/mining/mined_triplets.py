"""An ordered list of triplets with their target and achieved hardness."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siamese._io import atomic_write_text


@dataclass
class MinedTriplets:
    """``T`` ordered (anchor, positive, negative) triplets, to be fed in this order.

    Attributes:
        anchor, positive, negative: ``(T,)`` int64 dataset positions.
        target: ``(T,)`` the hardness asked for (``nan`` when the strategy has no target).
        achieved: ``(T,)`` the hardness of the chosen negative (``nan`` without features).
        strategy: the schedule or miner that chose them.
    """

    anchor: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    target: np.ndarray
    achieved: np.ndarray
    strategy: str

    def __len__(self) -> int:
        return len(self.anchor)

    def mae(self) -> float:
        """Mean absolute error of achieved vs target hardness (``nan`` when there is no target)."""
        ok = np.isfinite(self.target) & np.isfinite(self.achieved)
        return (
            float(np.abs(self.achieved[ok] - self.target[ok]).mean()) if ok.any() else float("nan")
        )

    def summary(self, labels: np.ndarray) -> dict[str, Any]:
        """Counts for the ``siamese mine`` table: triplets, classes covered as anchor, MAE."""
        labels = np.asarray(labels)
        a_cls = np.unique(labels[self.anchor])
        return {
            "strategy": self.strategy,
            "triplets": len(self),
            "classes": int(len(np.unique(labels))),
            "classes_as_anchor": int(len(a_cls)),
            "negatives_of_anchor_class": int((labels[self.negative] == labels[self.anchor]).sum()),
            "mean_target": _mean(self.target),
            "mean_achieved": _mean(self.achieved),
            "hardness_mae": self.mae(),
        }

    def write_csv(self, path: str | Path, names: list[str] | None = None) -> Path:
        """Write one row per triplet, atomically, in sequence order.

        Args:
            path: the CSV file to write.
            names: what to print for each dataset position (file paths or item ids); the
                positions themselves when ``None``.

        Returns:
            The path written.
        """
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            ["step", "anchor", "positive", "negative", "target_hardness", "achieved_hardness"]
        )
        for i in range(len(self)):
            cols = (self.anchor[i], self.positive[i], self.negative[i])
            w.writerow(
                [
                    i,
                    *(str(c) if names is None else names[c] for c in cols),
                    _fmt(self.target[i]),
                    _fmt(self.achieved[i]),
                ]
            )
        atomic_write_text(path, buf.getvalue())
        return Path(path)


def _mean(x: np.ndarray) -> float:
    ok = np.isfinite(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def _fmt(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.6f}"
