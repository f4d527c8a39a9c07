"""Recovery from a collapse: roll back to the last healthy state and continue more gently."""

from __future__ import annotations

import copy
from typing import Any

import torch


class CollapseRecovery:
    """Keeps the last healthy state of a run and rolls back to it when the run collapses.

    A roll-back restores the weights and the optimiser state of the last epoch that did not
    collapse (or of the untrained model), lowers the learning rate by ``lr_factor`` (for the rest
    of the run, the schedule included), and restarts the triplet hardness easy: a miner or a
    sequenced generator with ``restart`` starts its schedule again from 0 over the steps left;
    a run with a fixed-rule online miner (batch-hard ...) or none switches to ``gentle_miner``
    (scheduled hardness) from then on.

    Args:
        max_recoveries: roll-backs allowed; one more collapse ends the run.
        lr_factor: each roll-back multiplies the learning rate by this.
        gentle_miner: the scheduled miner to switch to (None: keep the run's miner).
    """

    def __init__(
        self, *, max_recoveries: int = 3, lr_factor: float = 0.3, gentle_miner: Any = None
    ):
        self.max_recoveries, self.lr_factor, self.gentle_miner = (
            int(max_recoveries),
            float(lr_factor),
            gentle_miner,
        )
        self.count = 0
        self.switched = False  # the run's miner was replaced by gentle_miner
        self.healthy_epoch = 0
        self._model: dict[str, torch.Tensor] | None = None
        self._optimizer: dict[str, Any] | None = None

    @property
    def exhausted(self) -> bool:
        return self.count >= self.max_recoveries

    def remember(self, epoch: int, model: torch.nn.Module, optimizer: Any) -> None:
        """Keep the state at the end of ``epoch`` as the one to roll back to."""
        self.healthy_epoch = int(epoch)
        self._model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._optimizer = copy.deepcopy(optimizer.state_dict())

    def roll_back(
        self,
        model: torch.nn.Module,
        optimizer: Any,
        scheduler: Any,
        *,
        miner: Any,
        generator: Any,
        step: int,
        online: bool,
    ) -> tuple[Any, dict[str, Any]]:
        """Restore the healthy state and make the rest of the run gentler.

        ``online``: the batches carry no tuples of their own (a P x K batch), so a miner picks them.

        Returns:
            the miner to train with from now on, and a record of what changed.
        """
        if self._model is None or self._optimizer is None:
            raise RuntimeError("CollapseRecovery.roll_back before remember")
        lrs = [g["lr"] for g in optimizer.param_groups]
        model.load_state_dict(self._model)
        optimizer.load_state_dict(copy.deepcopy(self._optimizer))
        for g, lr in zip(optimizer.param_groups, lrs, strict=True):
            g["lr"] = lr * self.lr_factor
            if "initial_lr" in g:
                g["initial_lr"] *= self.lr_factor
        if scheduler is not None:
            scheduler.base_lrs = [b * self.lr_factor for b in scheduler.base_lrs]
            if hasattr(scheduler, "eta_min"):
                scheduler.eta_min *= self.lr_factor
        self.count += 1
        change = {
            "rolled_back_to_epoch": self.healthy_epoch,
            "lr": float(optimizer.param_groups[0]["lr"]),
            "lr_factor": self.lr_factor,
            "recovery": self.count,
        }
        if hasattr(generator, "restart"):
            generator.restart()
            change["hardness"] = "restarted at 0 (sequenced triplets follow the schedule again)"
        elif miner is not None and hasattr(miner, "restart"):
            miner.restart(step)
            change["hardness"] = "restarted at 0, rising along the schedule"
        elif self.gentle_miner is not None and online:
            self.switched = True
            miner = self.gentle_miner
            miner.restart(step)
            change["hardness"] = "miner switched to scheduled hardness, restarted easy"
        return miner, change

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "switched": self.switched, "healthy_epoch": self.healthy_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state.get("count", 0))
        self.switched = bool(state.get("switched", False))
        self.healthy_epoch = int(state.get("healthy_epoch", 0))
