"""A multilayer perceptron for vectors (tabular records, precomputed features)."""

from __future__ import annotations

import math

import torch
from torch import nn

from siamese.encoders._layers import OutputActivation
from siamese.encoders._registry import register_encoder


class MLP(nn.Module):
    """Linear-BN-ReLU(-Dropout) blocks, then a linear embedding layer."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        hidden: tuple[int, ...] = (256, 128),
        embedding_dim: int = 64,
        batch_norm: bool = True,
        dropout: float = 0.0,
        output_activation: str = "none",
    ):
        super().__init__()
        width = int(math.prod(input_shape))
        layers: list[nn.Module] = []
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
) -> nn.Module:
    """Multilayer perceptron for vectors: tabular records or precomputed features."""
    return MLP(input_shape, tuple(hidden), embedding_dim, batch_norm, dropout, output_activation)
