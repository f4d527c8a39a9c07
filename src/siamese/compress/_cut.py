"""Choosing which channels or units stay (by norm, ``torch.nn.utils.prune.ln_structured``) and
cutting a state dict's tensors down to them."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune


def n_kept(width: int, amount: float) -> int:
    """How many of ``width`` channels stay when a fraction ``amount`` is pruned (at least 1)."""
    return max(1, int(round(width * (1.0 - amount))))


def keep_by_norm(weight: torch.Tensor, keep: int, *, p: int = 2) -> torch.Tensor:
    """Indices (sorted) of the ``keep`` rows of ``weight (out, ...)`` with the largest L``p`` norm.

    The choice is ``torch.nn.utils.prune.ln_structured`` along dim 0 (its mask's kept rows).
    """
    out = int(weight.shape[0])
    if keep >= out:
        return torch.arange(out)
    holder = nn.Module()
    holder.weight = nn.Parameter(weight.detach().float().reshape(out, -1).clone())
    prune.ln_structured(holder, "weight", amount=out - keep, n=p, dim=0)
    kept = holder.weight_mask.reshape(out, -1).amax(1) > 0  # (out,)
    idx = torch.nonzero(kept).flatten()
    if len(idx) != keep:  # rows of zeros: ln_structured keeps some of them, the mask cannot say
        idx = torch.topk(holder.weight_orig.norm(p=p, dim=1), keep).indices.sort().values
    return idx


def bn_folded(weight: torch.Tensor, state: dict[str, torch.Tensor], bn: str) -> torch.Tensor:
    """``weight (out, ...)`` scaled per output channel as the batch norm ``bn`` after it scales
    it in eval mode (``gamma / sqrt(var + eps)``): the channel's real size downstream."""
    gamma = state.get(f"{bn}.weight")
    scale = 1.0 / torch.sqrt(state[f"{bn}.running_var"] + 1e-5)
    if gamma is not None:
        scale = scale * gamma.abs()
    return weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))


class StateCut:
    """A copy of a state dict whose tensors are cut along one dimension to kept indices."""

    def __init__(self, state: dict[str, torch.Tensor]):
        self.state = {k: v.detach().clone() for k, v in state.items()}
        # every cut made, in order: (tensor name, dim, kept indices of the tensor as it was then)
        self.log: list[tuple[str, int, torch.Tensor]] = []

    def take(self, name: str, dim: int, idx: torch.Tensor) -> None:
        if name in self.state:
            self.state[name] = self.state[name].index_select(dim, idx).contiguous()
            self.log.append((name, dim, idx))

    def outputs(self, layer: str, idx: torch.Tensor) -> None:
        """Output channels / units of a conv or linear layer (weight rows and bias)."""
        self.take(f"{layer}.weight", 0, idx)
        self.take(f"{layer}.bias", 0, idx)

    def inputs(self, layer: str, idx: torch.Tensor) -> None:
        """Input channels / features of a conv or linear layer (weight columns)."""
        self.take(f"{layer}.weight", 1, idx)

    def batch_norm(self, bn: str, idx: torch.Tensor) -> None:
        for part in ("weight", "bias", "running_mean", "running_var"):
            self.take(f"{bn}.{part}", 0, idx)


def flat_columns(kept: torch.Tensor, per_channel: int) -> torch.Tensor:
    """Columns of a linear layer after ``flatten(1)`` of ``(C, ...)`` maps for the kept channels."""
    offsets = torch.arange(per_channel)
    return (kept[:, None] * per_channel + offsets[None, :]).flatten()
