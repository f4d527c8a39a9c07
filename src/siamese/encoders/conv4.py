"""The compact 4-block convolutional encoder used across few-shot learning."""

from __future__ import annotations

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


class Conv4(nn.Module):
    """Four blocks of conv3x3-BN-ReLU-maxpool2, then an optional linear projection."""

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        channels: int = 64,
        embedding_dim: int | None = 128,
        dropout: float = 0.0,
        output_activation: str = "none",
    ):
        super().__init__()
        c = channels_of(tuple(input_shape))
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [
                nn.Conv2d(c if i == 0 else channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
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
    channels: int = 64,
    embedding_dim: int | None = 128,
    dropout: float = 0.0,
    output_activation: str = "none",
) -> nn.Module:
    """4 x (conv3x3-BN-ReLU-pool) for images of any size, optional linear projection."""
    return Conv4(input_shape, channels, embedding_dim, dropout, output_activation)
