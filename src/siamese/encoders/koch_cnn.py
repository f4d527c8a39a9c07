"""The Siamese CNN of Koch, Zemel and Salakhutdinov (2015)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from siamese.encoders._layers import as_image_batch, channels_last_, channels_of, flat_size
from siamese.encoders._registry import register_encoder
from siamese.errors import ConfigError


class KochCNN(nn.Module):
    """64@10x10, 128@7x7, 128@4x4, 256@4x4 convolutions (ReLU, max-pool between), dense sigmoid.

    Koch et al.'s initialisation: weights N(0, 0.01), biases N(0.5, 0.01); the paper draws the
    dense layer's weights from N(0, 0.2) (``dense_init_std``). ``channels``: the four
    convolutions' widths (a pruned model records its smaller ones, ``siamese prune``).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 105, 105),
        embedding_dim: int = 4096,
        batch_norm: bool = False,
        dropout: float = 0.0,
        dense_init_std: float = 0.01,
        channels: Sequence[int] = (64, 128, 128, 256),
    ):
        super().__init__()
        c = channels_of(tuple(input_shape))
        widths = [int(w) for w in channels] if not isinstance(channels, (int, str)) else []
        if len(widths) != 4 or min(widths) < 1:
            raise ConfigError(
                f"koch_cnn channels: expected four positive widths (one per convolution), "
                f"got {channels!r}"
            )

        def block(cin: int, cout: int, k: int, pool: bool) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, k)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.ReLU(inplace=True))
            if pool:
                layers.append(nn.MaxPool2d(2))
            return layers

        self.features = nn.Sequential(
            *block(c, widths[0], 10, True),
            *block(widths[0], widths[1], 7, True),
            *block(widths[1], widths[2], 4, True),
            *block(widths[2], widths[3], 4, False),
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(flat_size(self.features, tuple(input_shape)), embedding_dim)
        self.embedding_dim = embedding_dim
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.normal_(m.bias, 0.5, 0.01)
        nn.init.normal_(self.fc.weight, 0.0, dense_init_std)
        nn.init.normal_(self.fc.bias, 0.5, 0.01)
        channels_last_(self.features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(as_image_batch(x, self.features[0].weight)).flatten(1)  # (B, F)
        return torch.sigmoid(self.fc(self.dropout(h)))  # (B, embedding_dim)


@register_encoder
def koch_cnn(
    input_shape: tuple[int, ...] = (1, 105, 105),
    embedding_dim: int = 4096,
    batch_norm: bool = False,
    dropout: float = 0.0,
    dense_init_std: float = 0.01,
    channels: Sequence[int] = (64, 128, 128, 256),
) -> nn.Module:
    """Koch et al.'s Siamese CNN (105x105 grayscale in, 4096-d sigmoid embedding out)."""
    return KochCNN(input_shape, embedding_dim, batch_norm, dropout, dense_init_std, channels)
