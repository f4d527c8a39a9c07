"""Optimiser and learning-rate schedule by name (the ``[training]`` keys)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import torch

from siamese.errors import ConfigError
from siamese.training.config import CHOICES


def build_optimizer(
    model: torch.nn.Module,
    name: str,
    *,
    learning_rate: float,
    weight_decay: float,
    momentum: float,
    groups: list[dict[str, Any]] | None = None,
) -> torch.optim.Optimizer:
    """``adam`` / ``adamw`` (fused: the largest CPU speed-up for big dense layers) or ``sgd``.

    ``groups``: parameter groups with their own learning rates (fine-tuning) instead of one.
    """
    params: Any = groups or [p for p in model.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=learning_rate, momentum=momentum, weight_decay=weight_decay
        )
    if name == "adamw":
        return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay, fused=True)
    return torch.optim.Adam(params, lr=learning_rate, weight_decay=weight_decay, fused=True)


def build_scheduler(
    optimizer: torch.optim.Optimizer, name: str, *, epochs: int, learning_rate: float
) -> Any:
    """``cosine``: decay to 1% of the learning rate over the epochs; ``none``: no schedule.

    With several parameter groups, each one decays to 1% of its own learning rate.
    """
    if name == "cosine" and len(optimizer.param_groups) > 1:
        t_max = max(1, epochs)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda e: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(e, t_max) / t_max))
        )
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, epochs), eta_min=learning_rate * 0.01
        )
    return None


PRECISIONS = CHOICES["training.precision"]
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bf16_units(cpuinfo: str | Path = "/proc/cpuinfo") -> list[str] | None:
    """The CPU's bfloat16 units among ``amx_bf16`` and ``avx512_bf16``; None where unknown (no
    ``/proc/cpuinfo``: not Linux)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    return [f for f in BF16_CPU_FLAGS if f in flags]


def check_precision(name: str, device: str | torch.device = "cpu") -> bool:
    """Whether training forward passes run under bfloat16 autocast (``precision = "bfloat16"``).

    Convolutions and matrix products then run in bfloat16 (1.5-1.8x faster conv4 training steps
    on a CPU with AMX); weights, optimiser state, the loss and every evaluation stay float32. On a
    CPU without bfloat16 units it works but is slower than float32: a warning says so.

    Raises:
        ConfigError: an unknown precision name.
    """
    if name not in PRECISIONS:
        raise ConfigError(
            f"training precision: expected one of {', '.join(PRECISIONS)}, got {name!r}"
        )
    if name == "bfloat16" and torch.device(device).type == "cpu" and cpu_bf16_units() == []:
        warnings.warn(
            "training precision bfloat16: this CPU has no bfloat16 units (no amx_bf16 or "
            "avx512_bf16 in /proc/cpuinfo), so bfloat16 steps are slower than float32; set "
            'training.precision = "float32"',
            stacklevel=2,
        )
    return name == "bfloat16"
