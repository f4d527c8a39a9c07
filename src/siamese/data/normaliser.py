"""Input normalisation whose statistics are fitted on training data only and saved with the model."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError

MODES = ("none", "global", "feature", "log_feature", "series")


class Normaliser(nn.Module):
    """``(x - mean) / std`` with statistics fitted on the training split.

    Modes:
        ``none``: cast to float only.
        ``global``: one mean and std over every value (images).
        ``feature``: one mean and std per entry of the last axis (sequence features, vector columns).
        ``log_feature``: ``log1p`` of the (non-negative) values first, then per-feature statistics:
            for rates and volumes whose level varies by orders of magnitude, where a change by a
            factor matters more than by an amount (network traffic).
        ``series``: every series z-normalised on its own, per feature, over its valid steps
            (nothing fitted; the UCR habit). For series whose scale differs by orders of
            magnitude between items (appliance currents): each one keeps its shape, none is
            flattened to near zero by another's scale. Sequences ``(time, features)`` only.
    """

    def __init__(self, mode: str = "none", mean: Any = 0.0, std: Any = 1.0):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"normalise: expected one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(-1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(-1))

    @classmethod
    def fit(
        cls, dataset: LabeledDataset, mode: str, *, max_items: int = 5000, seed: int = 0
    ) -> Normaliser:
        """Fit statistics on (a sample of at most ``max_items`` of) ``dataset``.

        Padding of variable-length sequences (beyond ``dataset.lengths``) is ignored.
        """
        if mode == "series" and len(dataset.item_shape) != 2:
            raise ConfigError(
                f"normalise = 'series': expected sequences of shape (time, features), got items "
                f"of shape {tuple(dataset.item_shape)}; use 'feature' or 'global' for this data"
            )
        if mode in ("none", "series") or len(dataset) == 0:
            return cls(mode)
        rng = np.random.default_rng(seed)
        idx = np.arange(len(dataset))
        if len(idx) > max_items:
            idx = np.sort(rng.choice(idx, size=max_items, replace=False))
        x = dataset.load(idx).astype(np.float64)
        if mode == "log_feature":
            x = np.log1p(np.clip(x, 0, None))
        if mode == "global":
            if dataset.lengths is not None:
                x = _unpad(x, dataset.lengths[idx])
            std = float(x.std())
            return cls(mode, float(x.mean()), std if std > 1e-8 else 1.0)
        if dataset.lengths is not None:
            flat = _unpad(x, dataset.lengths[idx])
        else:
            flat = x.reshape(-1, x.shape[-1])
        std = flat.std(axis=0)
        std[std < 1e-8] = 1.0
        return cls(mode, flat.mean(axis=0), std)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise ``x``; ``lengths`` ``(B,)`` marks the valid steps of padded ``(B, T, F)``."""
        x = x.float()
        if self.mode == "none":
            return x
        if self.mode == "series":
            return _per_series(x, lengths)
        if self.mode == "log_feature":
            x = torch.log1p(x.clamp(min=0))
        return (x - self.mean) / self.std

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Normaliser:
        return cls(data["mode"], data["mean"], data["std"])


def _per_series(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``(B, T, F)`` z-normalised per item and feature over its valid steps; padding stays 0."""
    B, T, _ = x.shape
    lens = torch.full((B,), T, device=x.device) if lengths is None else lengths.to(x.device)
    mask = (torch.arange(T, device=x.device)[None, :] < lens[:, None])[..., None]  # (B, T, 1)
    m = mask.to(x.dtype)
    n = m.sum(1, keepdim=True).clamp(min=1)  # (B, 1, 1)
    mean = (x * m).sum(1, keepdim=True) / n  # (B, 1, F)
    std = ((((x - mean) * m) ** 2).sum(1, keepdim=True) / n).sqrt()  # (B, 1, F)
    return torch.where(mask, (x - mean) / torch.where(std > 1e-8, std, 1.0), 0.0)


def _unpad(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Rows of ``(N, T, F)`` sequences up to each true length, as ``(sum(lengths), F)``."""
    return np.concatenate([x[i, : int(n)] for i, n in enumerate(lengths)], axis=0)
