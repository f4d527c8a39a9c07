"""A 1-D convolutional encoder for series ``(batch, time, features)``: FCN / ResNet style.

The standard strong baseline for UCR/UEA classification (Wang, Yan & Oates 2017): stacks of
Conv1d-BatchNorm-ReLU with "same" padding, global average pooling over time, then a linear
embedding. ``residual=True`` turns each stage into a ResNet block (three convolutions with
kernels ``kernels`` and a 1x1 shortcut). ``max_length`` averages a long input over windows of
``ceil(time / max_length)`` steps first (time from ``input_shape``), so one recipe serves series of
24 and of 1,460 steps at a similar cost.

Variable-length batches: with ``lengths``, the padded time steps are set to zero before every
convolution and left out of the pooling, so (in eval mode) an item's embedding does not depend
on how much padding its batch has.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from siamese.encoders._layers import OutputActivation
from siamese.encoders._registry import register_encoder
from siamese.errors import ConfigError

POOLINGS = ("mean", "max", "meanmax")


class _ConvBN(nn.Module):
    """Conv1d ("same" padding, no bias) -> BatchNorm1d, ReLU optional."""

    def __init__(self, c_in: int, c_out: int, kernel: int, relu: bool = True):
        super().__init__()
        self.pad = ((kernel - 1) // 2, kernel // 2)  # "same" output length, also for even kernels
        self.conv = nn.Conv1d(c_in, c_out, kernel, bias=False)
        self.bn = nn.BatchNorm1d(c_out)
        self.relu = relu

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(F.pad(x * mask, self.pad)))  # (B, C_out, T)
        return F.relu(y) if self.relu else y


class _Stage(nn.Module):
    """One FCN stage (a single convolution) or one ResNet block (len(kernels) convs + shortcut)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, kernels: tuple[int, ...], residual: bool
    ):
        super().__init__()
        self.residual = residual
        if residual:
            sizes = [c_in] + [c_out] * len(kernels)
            self.convs = nn.ModuleList(
                _ConvBN(sizes[i], sizes[i + 1], k, relu=i < len(kernels) - 1)
                for i, k in enumerate(kernels)
            )
            self.shortcut = _ConvBN(c_in, c_out, 1, relu=False)
        else:
            self.convs = nn.ModuleList([_ConvBN(c_in, c_out, kernel)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = x
        for conv in self.convs:
            y = conv(y, mask)  # (B, C_out, T)
        if self.residual:
            y = F.relu(y + self.shortcut(x, mask))
        return y


class Conv1dEncoder(nn.Module):
    """Conv1d stages -> masked global pooling over time -> dense layers -> embedding.

    Args:
        input_shape: ``(time, features)`` of one item (time may vary between batches).
        channels: output channels of each stage.
        kernels: kernel size of each stage (FCN: one per stage; ResNet: the three convolutions
            inside every block).
        residual: ResNet blocks instead of single convolutions.
        pooling: ``mean`` (global average pooling), ``max`` or ``meanmax`` (both, concatenated).
        dense: widths of the ReLU layers between the pooling and the embedding.
        dropout: dropout before the embedding layer.
        embedding_dim: size of the embedding.
        output_activation: ``none``, ``sigmoid`` or ``l2``.
        max_length: average the input over windows of ``ceil(input_shape[0] / max_length)``
            steps before the convolutions (0: never).

    Raises:
        ConfigError: an input shape that is not ``(time, features)``, an unknown pooling, or
            (FCN) a different number of channels and kernels.
    """

    accepts_lengths = True

    def __init__(
        self,
        input_shape: tuple[int, ...],
        channels: tuple[int, ...] = (128, 256, 128),
        kernels: tuple[int, ...] = (8, 5, 3),
        residual: bool = False,
        pooling: str = "mean",
        dense: tuple[int, ...] = (),
        dropout: float = 0.0,
        embedding_dim: int = 64,
        output_activation: str = "none",
        max_length: int = 0,
    ):
        super().__init__()
        if len(input_shape) != 2:
            raise ConfigError(
                f"conv1d input_shape: expected (time, features), got {tuple(input_shape)}"
            )
        if pooling not in POOLINGS:
            raise ConfigError(
                f"conv1d pooling: expected one of {', '.join(POOLINGS)}, got {pooling!r}"
            )
        if not residual and len(channels) != len(kernels):
            raise ConfigError(
                f"conv1d: channels {tuple(channels)} and kernels {tuple(kernels)} must have the same "
                "length (one kernel per stage) unless residual = true"
            )
        self.window = max(1, math.ceil(int(input_shape[0]) / max_length)) if max_length > 0 else 1
        width = int(input_shape[1])
        stages = []
        for i, c in enumerate(channels):
            stages.append(
                _Stage(width, int(c), int(kernels[i % len(kernels)]), tuple(kernels), residual)
            )
            width = int(c)
        self.stages = nn.ModuleList(stages)
        self.pooling = pooling
        width *= 2 if pooling == "meanmax" else 1
        layers: list[nn.Module] = []
        for d in dense:
            layers += [nn.Linear(width, int(d)), nn.ReLU(inplace=True)]
            width = int(d)
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width, embedding_dim))
        self.head = nn.Sequential(*layers)
        self.out = OutputActivation(output_activation)
        self.embedding_dim = embedding_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Embed ``x`` of shape ``(B, T, F)``; ``lengths`` ``(B,)`` marks the valid steps."""
        B, T, _ = x.shape
        if lengths is None:
            lengths = torch.full((B,), T, device=x.device)
        h = x.transpose(1, 2)  # (B, F, T)
        if self.window > 1:  # average over windows of valid steps only
            w = self.window
            valid = torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]
            m = valid[:, None, :].to(x.dtype)  # (B, 1, T)
            total = F.avg_pool1d(h * m, w, w, ceil_mode=True)  # (B, F, ceil(T / w))
            h = total / F.avg_pool1d(m, w, w, ceil_mode=True).clamp(min=1e-6)
            lengths = torch.div(lengths + w - 1, w, rounding_mode="floor")
            T = h.shape[2]
        valid = torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]
        mask = valid[:, None, :].to(x.dtype)  # (B, 1, T)
        for stage in self.stages:
            h = stage(h, mask)  # (B, C, T)
        n = mask.sum(2).clamp(min=1)  # (B, 1)
        mean = (h * mask).sum(2) / n  # (B, C)
        if self.pooling == "mean":
            pooled = mean
        else:
            mx = h.masked_fill(~valid[:, None, :], float("-inf")).max(2).values  # (B, C)
            pooled = mx if self.pooling == "max" else torch.cat([mean, mx], dim=1)
        return self.out(self.head(pooled))  # (B, embedding_dim)


@register_encoder
def conv1d(
    input_shape: tuple[int, ...],
    channels: tuple[int, ...] = (128, 256, 128),
    kernels: tuple[int, ...] = (8, 5, 3),
    residual: bool = False,
    pooling: str = "mean",
    dense: tuple[int, ...] = (),
    dropout: float = 0.0,
    embedding_dim: int = 64,
    output_activation: str = "none",
    max_length: int = 0,
) -> nn.Module:
    """1-D CNN (FCN, or ResNet with residual) over (batch, time, features), global pooling."""
    return Conv1dEncoder(
        input_shape,
        tuple(channels),
        tuple(kernels),
        residual,
        pooling,
        tuple(dense),
        dropout,
        embedding_dim,
        output_activation,
        max_length,
    )
