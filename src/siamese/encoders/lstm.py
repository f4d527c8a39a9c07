"""A stacked LSTM encoder for multivariate sequences ``(batch, time, features)``."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from siamese.encoders._layers import OutputActivation
from siamese.encoders._registry import register_encoder
from siamese.errors import ConfigError

POOLINGS = ("last", "mean", "max", "concat")


class LSTMEncoder(nn.Module):
    """Stacked LSTM -> pooled over time -> dense layers -> embedding.

    Variable-length batches are handled without truncation: pass ``lengths`` and the padded
    steps are packed away (``pack_padded_sequence``) and masked out of the pooling.
    """

    accepts_lengths = True

    def __init__(
        self,
        input_shape: tuple[int, ...],
        hidden_size: int = 64,
        num_layers: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.0,
        pooling: str = "last",
        dense: tuple[int, ...] = (64,),
        embedding_dim: int = 16,
        output_activation: str = "none",
        instance_norm: bool = False,
    ):
        super().__init__()
        if len(input_shape) != 2:
            raise ConfigError(
                f"lstm input_shape: expected (time, features), got {tuple(input_shape)}"
            )
        if pooling not in POOLINGS:
            raise ConfigError(
                f"lstm pooling: expected one of {', '.join(POOLINGS)}, got {pooling!r}"
            )
        self.pooling = pooling
        self.instance_norm = bool(instance_norm)
        features = int(input_shape[-1]) * (2 if instance_norm else 1)
        self.lstm = nn.LSTM(
            input_size=features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        width = hidden_size * (2 if bidirectional else 1)
        width *= 3 if pooling == "concat" else 1
        layers: list[nn.Module] = []
        for d in dense:
            layers += [nn.Linear(width, d), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = d
        layers.append(nn.Linear(width, embedding_dim))
        self.head = nn.Sequential(*layers)
        self.out = OutputActivation(output_activation)
        self.embedding_dim = embedding_dim

    def _with_instance_norm(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Append each series standardised over its own (valid) time steps: shape, not level."""
        B, T, _ = x.shape
        if lengths is None:
            m = torch.ones(B, T, 1, dtype=x.dtype, device=x.device)
        else:
            m = (torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]).to(
                x.dtype
            )[..., None]
        n = m.sum(1, keepdim=True).clamp(min=1)  # (B, 1, 1)
        mean = (x * m).sum(1, keepdim=True) / n  # (B, 1, F)
        std = (((x - mean) ** 2 * m).sum(1, keepdim=True) / n).sqrt()
        return torch.cat([x, (x - mean) / (std + 1e-3) * m], dim=2)  # (B, T, 2F)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        B, T, _ = x.shape  # (B, T, F)
        if self.instance_norm:
            x = self._with_instance_norm(x, lengths)
        if lengths is not None:
            lengths = lengths.clamp(min=1, max=T).cpu()
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, (h, _) = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, H)
            mask = (torch.arange(T)[None, :] < lengths[:, None]).to(x.device)  # (B, T)
        else:
            out, (h, _) = self.lstm(x)  # out (B, T, H)
            mask = torch.ones(B, T, dtype=torch.bool, device=x.device)
        if self.lstm.bidirectional:
            last = torch.cat([h[-2], h[-1]], dim=1)  # (B, 2H)
        else:
            last = h[-1]  # (B, H)
        m = mask[:, :, None].to(out.dtype)
        mean = (out * m).sum(1) / m.sum(1).clamp(min=1)
        mx = out.masked_fill(~mask[:, :, None], float("-inf")).max(1).values
        pooled = {"last": last, "mean": mean, "max": mx}.get(self.pooling)
        if pooled is None:
            pooled = torch.cat([last, mean, mx], dim=1)
        return self.out(self.head(pooled))  # (B, embedding_dim)


@register_encoder
def lstm(
    input_shape: tuple[int, ...],
    hidden_size: int = 64,
    num_layers: int = 2,
    bidirectional: bool = False,
    dropout: float = 0.0,
    pooling: str = "last",
    dense: tuple[int, ...] = (64,),
    embedding_dim: int = 16,
    output_activation: str = "none",
    instance_norm: bool = False,
) -> nn.Module:
    """Stacked LSTM over (batch, time, features); embedding as low as 2 or 3 dimensions."""
    return LSTMEncoder(
        input_shape,
        hidden_size,
        num_layers,
        bidirectional,
        dropout,
        pooling,
        tuple(dense),
        embedding_dim,
        output_activation,
        instance_norm,
    )
