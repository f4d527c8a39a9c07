"""Scheduled hardness online: each anchor's in-batch negative at the hardness a schedule gives.

Inside a P x K batch every anchor that has a positive and a negative in the batch gives exactly
one triplet — the same anchors, the same count and the same positive (its farthest) as
batch-hard — but its negative is the one whose hardness (``siamese.mining.hardness``: where its
distance falls in that anchor's range of in-batch negative distances, 0 = the farthest, 1 = the
nearest) is closest to the schedule's target for this step. At target 1 the miner is batch-hard;
at 0 it takes every anchor's farthest negative.

The trainer calls ``set_progress(step, total_steps)`` before each ``mine``; progress is
``(step - restart_step) / (total_steps - 1 - restart_step)``, so a ``restart(at_step)`` (collapse
recovery) starts the schedule again from its beginning and spreads it over the remaining steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from siamese.errors import ConfigError
from siamese.mining.hardness import hardness_of
from siamese.mining.schedules import Schedule
from siamese.objectives.distances import Distance, get_distance

Triplets = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class ScheduledMiner:
    """One triplet per anchor, its negative at the scheduled hardness.

    Args:
        schedule: the curve from progress to target hardness (``schedule_from_settings``).
        distance: the distance hardness is measured with (the objective's), an object or name.

    Attributes:
        last_target: the target hardness of the last ``mine`` call.
        last_achieved: ``(T,)`` the achieved hardness of its triplets' negatives.
    """

    def __init__(self, schedule: Schedule, *, distance: Distance | str = "euclidean"):
        if not isinstance(schedule, Schedule):
            raise ConfigError(
                f"ScheduledMiner: schedule: expected a Schedule (schedule_from_settings), "
                f"got {type(schedule).__name__}"
            )
        self.schedule = schedule
        self.distance = get_distance(distance)
        self.step: int | None = None
        self.total_steps: int | None = None
        self.restart_step = 0
        self.last_target = float("nan")
        self.last_achieved = np.zeros(0)

    # ------------------------------------------------------------------ progress
    def set_progress(self, step: int, total_steps: int) -> None:
        """Where training is: ``step`` (0-based, steps done so far) of ``total_steps``."""
        if total_steps < 1 or step < 0:
            raise ConfigError(
                f"ScheduledMiner.set_progress: expected step >= 0 and total_steps >= 1, "
                f"got step={step}, total_steps={total_steps}"
            )
        self.step, self.total_steps = int(step), int(total_steps)

    def restart(self, at_step: int) -> None:
        """Start the schedule again (hardness from its start) at ``at_step``, over the rest."""
        if at_step < 0:
            raise ConfigError(f"ScheduledMiner.restart: at_step: expected >= 0, got {at_step}")
        self.restart_step = int(at_step)

    def progress(self) -> float:
        """Progress in [0, 1] along the schedule at the current step."""
        if self.step is None or self.total_steps is None:
            raise ConfigError(
                "ScheduledMiner: call set_progress(step, total_steps) before mine(); the Trainer "
                "does so before every step"
            )
        span = self.total_steps - 1 - self.restart_step
        if span <= 0:
            return 1.0
        return float(np.clip((self.step - self.restart_step) / span, 0.0, 1.0))

    def target(self) -> float:
        """The target hardness at the current step."""
        return float(self.schedule(self.progress()))

    # ------------------------------------------------------------------ mining
    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
        """One triplet per anchor of the batch.

        Args:
            embeddings: ``(B, D)`` the batch's embeddings.
            labels: ``(B,)`` their labels.

        Returns:
            ``(a, p, n)``: int64 tensors of batch positions, one row per anchor that has a
            positive and a negative in the batch (possibly empty).

        Raises:
            ConfigError: ``set_progress`` was never called.
        """
        target = self.target()
        with torch.no_grad():
            d = self.distance.matrix(embeddings.detach(), embeddings.detach())  # (B, B)
        d = d.double().cpu().numpy()
        y = labels.detach().cpu().numpy()
        same = y[:, None] == y[None, :]  # (B, B)
        pos = same & ~np.eye(len(y), dtype=bool)
        neg = ~same
        anchors = np.flatnonzero(pos.any(axis=1) & neg.any(axis=1))  # (T,)
        da = d[anchors]  # (T, B)
        positive = np.where(pos[anchors], da, -np.inf).argmax(axis=1)  # farthest positive
        valid = neg[anchors]
        d_min = np.where(valid, da, np.inf).min(axis=1, keepdims=True)  # (T, 1)
        d_max = np.where(valid, da, -np.inf).max(axis=1, keepdims=True)
        h = hardness_of(da, d_min, d_max)  # (T, B)
        negative = np.where(valid, np.abs(h - target), np.inf).argmin(axis=1)
        self.last_target = target
        self.last_achieved = h[np.arange(len(anchors)), negative]
        device = embeddings.device
        return tuple(
            torch.as_tensor(v, dtype=torch.long, device=device)
            for v in (anchors, positive, negative)
        )

    @property
    def last_hardness(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-triplet target and achieved hardness of the last batch (for ``Batch``)."""
        n = len(self.last_achieved)
        return np.full(n, self.last_target), self.last_achieved

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """What resuming needs: the schedule and where it restarted (the step is the trainer's)."""
        return {
            "schedule": self.schedule.name,
            "params": dict(self.schedule.params),
            "restart_step": self.restart_step,
            "step": self.step,
            "total_steps": self.total_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; the schedule must be the one this miner was built with."""
        if state.get("schedule") != self.schedule.name or state.get("params") != dict(
            self.schedule.params
        ):
            raise ConfigError(
                f"ScheduledMiner: the checkpoint was mined with schedule {state.get('schedule')!r} "
                f"{state.get('params')}, this run uses {self.schedule.name!r} "
                f"{dict(self.schedule.params)}; resume with the same [mining] settings"
            )
        self.restart_step = int(state.get("restart_step", 0))
        self.step, self.total_steps = state.get("step"), state.get("total_steps")

    def __repr__(self) -> str:
        return f"ScheduledMiner({self.schedule!r}, distance={self.distance!r})"
