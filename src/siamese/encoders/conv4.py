"""The compact 4-block convolutional encoder used across few-shot learning."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from siamese.encoders._layers import (
    OutputActivation,
    as_image_batch,
    channels_last_,
    channels_of,
    flat_size,
)
from siamese.encoders._registry import register_encoder
from siamese.errors import ConfigError


def block_channels(channels: int | Sequence[int]) -> list[int]:
    """The four blocks' widths: one number for all four, or a list of four (e.g. 64, 64, 128, 256).

    Raises:
        ConfigError: not a positive number or a list of four positive numbers.
    """
    widths = [channels] * 4 if isinstance(channels, int) else list(channels)
    if len(widths) != 4 or not all(
        isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths
    ):
        raise ConfigError(
            f"conv4 channels: expected a positive number or a list of four (one per block), "
            f"got {channels!r}"
        )
    return widths


class Conv4(nn.Module):
    """Four blocks of conv3x3-BN-ReLU-maxpool2, then an optional linear projection.

    ``channels`` is the width of every block, or a list of the four blocks' widths: the later
    blocks work on small maps (7x7 and 4x4 for a 28x28 input), so widening them adds capacity at a
    small share of the cost of widening the first two.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        channels: int | Sequence[int] = 64,
        embedding_dim: int | None = 128,
        dropout: float = 0.0,
        output_activation: str = "none",
    ):
        super().__init__()
        c = channels_of(tuple(input_shape))
        layers: list[nn.Module] = []
        for width in block_channels(channels):
            layers += [
                nn.Conv2d(c, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            c = width
        self.features = channels_last_(nn.Sequential(*layers))
        flat = flat_size(self.features, tuple(input_shape))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(flat, embedding_dim) if embedding_dim else nn.Identity()
        self.embedding_dim = embedding_dim or flat
        self.out = OutputActivation(output_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(as_image_batch(x, self.features[0].weight)).flatten(1)  # (B, F)
        return self.out(self.fc(self.dropout(h)))  # (B, embedding_dim)


@register_encoder
def conv4(
    input_shape: tuple[int, ...] = (1, 28, 28),
    channels: int | Sequence[int] = 64,
    embedding_dim: int | None = 128,
    dropout: float = 0.0,
    output_activation: str = "none",
) -> nn.Module:
    """4 x (conv3x3-BN-ReLU-pool) for images of any size (channels: one width or four), optional
    linear projection."""
    return Conv4(input_shape, channels, embedding_dim, dropout, output_activation)
