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
    dense_weight_decay: float = -1.0,
) -> torch.optim.Optimizer:
    """``adam`` / ``adamw`` (fused: the largest CPU speed-up for big dense layers) or ``sgd``.

    ``groups``: parameter groups with their own learning rates (fine-tuning) instead of one.
    ``dense_weight_decay >= 0``: per-layer L2 as Koch et al. (and Keras ``kernel_regularizer``)
    have it: linear layers' weights decay by ``dense_weight_decay``, other weights (convolutions)
    by ``weight_decay``, biases and other 1-d parameters not at all (-1: one group, all decaying
    by ``weight_decay``).

    Raises:
        ConfigError: ``dense_weight_decay`` below 0 and not -1, or set together with ``groups``.
    """
    params: Any = groups or [p for p in model.parameters() if p.requires_grad]
    if dense_weight_decay != -1.0:
        params = _decay_groups(model, weight_decay, dense_weight_decay, groups)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=learning_rate, momentum=momentum, weight_decay=weight_decay
        )
    if name == "adamw":
        return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay, fused=True)
    return torch.optim.Adam(params, lr=learning_rate, weight_decay=weight_decay, fused=True)


def _decay_groups(
    model: torch.nn.Module,
    weight_decay: float,
    dense_weight_decay: float,
    groups: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Three parameter groups: dense weights, other weights, 1-d parameters (no decay)."""
    if dense_weight_decay < 0:
        raise ConfigError(
            f"training.dense_weight_decay: expected >= 0, or -1 for off, got {dense_weight_decay}"
        )
    if groups:
        raise ConfigError(
            "training.dense_weight_decay: not together with the fine-tuning layer groups "
            "(freeze_backbone_epochs / backbone_lr_scale / layer_decay); set one or the other"
        )
    dense = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)}
    trained = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in trained if id(p) in dense], "weight_decay": dense_weight_decay},
        {
            "params": [p for p in trained if id(p) not in dense and p.ndim > 1],
            "weight_decay": weight_decay,
        },
        {"params": [p for p in trained if id(p) not in dense and p.ndim <= 1], "weight_decay": 0.0},
    ]


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
