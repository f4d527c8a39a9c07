"""Early stopping on a monitored validation metric."""

from __future__ import annotations

import math
from typing import Any


class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    ``val_loss`` is minimised; ``val_accuracy`` and ``val_auc`` are maximised.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 5):
        self.monitor = monitor
        self.mode = "min" if monitor.endswith("loss") else "max"
        self.min_delta = float(min_delta)
        self.patience = int(patience)
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0

    def update(self, epoch: int, metrics: dict[str, Any]) -> bool:
        """Record an epoch's metrics; return True when this epoch is the best so far."""
        value = metrics.get(self.monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            self.wait += 1
            return False
        sign = 1.0 if self.mode == "max" else -1.0
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            return True
        self.wait += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.wait >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
