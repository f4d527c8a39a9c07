"""A multilayer perceptron for vectors (tabular records, precomputed features)."""

from __future__ import annotations

import math

import torch
from torch import nn

from siamese.encoders._layers import OutputActivation
from siamese.encoders._registry import register_encoder
from siamese.errors import ConfigError


class SwapNoise(nn.Module):
    """Training-time swap noise: each feature is replaced, with probability ``p``, by the same
    feature of a random record of the batch (identity at inference).

    The corrupted value is a real value of that feature (drawn from its distribution in the
    batch), not a zero that no record has, and nothing is rescaled, so inference sees inputs of the
    same scale. This is the "swap noise" of denoising autoencoders for tabular data (M. Jahrer,
    Porto Seguro 2018) and the marginal corruption of SCARF (Bahri et al. 2022).
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or len(x) < 2:
            return x
        swap = torch.rand_like(x) < self.p  # (B, F)
        rows = torch.randint(0, len(x), x.shape, device=x.device)  # (B, F): a donor per feature
        return torch.where(swap, torch.gather(x, 0, rows), x)

    def extra_repr(self) -> str:
        return f"p={self.p}"


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
