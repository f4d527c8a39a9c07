"""A multilayer perceptron for vectors (tabular records, precomputed features)."""

from __future__ import annotations

import math

import torch
from torch import nn

from siamese.encoders._layers import OutputActivation, SwapNoise
from siamese.encoders._registry import register_encoder
from siamese.errors import ConfigError


class MLP(nn.Module):
    """(Input corruption,) Linear-BN-ReLU(-Dropout) blocks, then a linear embedding layer.

    ``input_dropout`` zeroes input features at random during training and ``input_swap`` replaces
    them by other records' values (``SwapNoise``), so the embedding cannot lean on a few features
    that separate the training classes (it helps never-seen classes).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        hidden: tuple[int, ...] = (256, 128),
        embedding_dim: int = 64,
        batch_norm: bool = True,
        dropout: float = 0.0,
        output_activation: str = "none",
        input_dropout: float = 0.0,
        input_swap: float = 0.0,
    ):
        super().__init__()
        for name, p in (("input_dropout", input_dropout), ("input_swap", input_swap)):
            if not 0.0 <= p < 1.0:
                raise ConfigError(f"mlp {name}: expected 0 <= p < 1, got {p}")
        width = int(math.prod(input_shape))
        layers: list[nn.Module] = [SwapNoise(input_swap)] if input_swap > 0 else []
        layers += [nn.Dropout(input_dropout)] if input_dropout > 0 else []
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU(inplace=True))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, embedding_dim))
        self.net = nn.Sequential(*layers)
        self.out = OutputActivation(output_activation)
        self.embedding_dim = embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.net(x.flatten(1)))  # (B, embedding_dim)


@register_encoder
def mlp(
    input_shape: tuple[int, ...],
    hidden: tuple[int, ...] = (256, 128),
    embedding_dim: int = 64,
    batch_norm: bool = True,
    dropout: float = 0.0,
    output_activation: str = "none",
    input_dropout: float = 0.0,
    input_swap: float = 0.0,
) -> nn.Module:
    """Multilayer perceptron for vectors: tabular records or precomputed features (input_dropout /
    input_swap: training-time input corruption)."""
    return MLP(
        input_shape,
        tuple(hidden),
        embedding_dim,
        batch_norm,
        dropout,
        output_activation,
        input_dropout,
        input_swap,
    )
