"""A stacked LSTM encoder for multivariate sequences ``(batch, time, features)``.

Besides the LSTM's pooled states, two fixed-function branches can feed the dense head: per-channel
summary statistics of the input (``summary_stats``) and its normalised magnitude spectrum
(``spectrum``). They are there for classes the network never saw in training: the LSTM learns
what separates its training classes and little else, while level, spread, extremes, step sizes and
periodicity stay visible to the head through these branches.

``input_batch_norm`` puts batch normalisation on the input layer: each channel standardised over
the batch and its valid time steps (batch statistics in training, running ones in eval), before
everything else (``benchmarks/telecom_lstm.py`` measures its train/validation effect).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from siamese.encoders._layers import OutputActivation, SequenceBatchNorm
from siamese.encoders._registry import register_encoder
from siamese.errors import ConfigError

POOLINGS = ("last", "mean", "max", "concat", "stats")
FIXED_BINS = 24  # spectrum bins of the appended fixed features


def _masked_stats(z: torch.Tensor, m: torch.Tensor, unbiased: bool = False) -> list[torch.Tensor]:
    """Mean, std, max and min over time of ``z (B, T, C)`` where ``m (B, T, 1)`` is 1."""
    n = m.sum(1).clamp(min=1)
    mean = (z * m).sum(1) / n
    var = (((z - mean[:, None]) ** 2) * m).sum(1) / (n - 1 if unbiased else n).clamp(min=1)
    valid = m.bool()
    mx = z.masked_fill(~valid, float("-inf")).max(1).values
    mn = z.masked_fill(~valid, float("inf")).min(1).values
    return [mean, var.sqrt(), mx, mn]


def _spectrum(z: torch.Tensor, lengths: torch.Tensor | None, bins: int) -> torch.Tensor:
    """Magnitudes of frequencies 1..bins of each channel over its valid steps, each summing to 1.

    The discrete Fourier transform of each series over its own ``n`` valid steps,
    ``X_k = sum_t z_t exp(-2 pi i k t / n)``, computed as matmuls with cosine and sine bases: the
    values of ``torch.fft.rfft`` (to float rounding), in operations every exporter carries (ONNX
    at any opset, TorchScript). Frequencies above ``n // 2`` (past a short series' Nyquist
    frequency, where ``rfft`` has no output) are 0.
    """
    T = int(z.shape[1])  # a Python int also while tracing: the basis is a constant
    if lengths is None:  # one basis for the batch, a constant of the graph: (bins, T)
        k = np.arange(1, bins + 1)[:, None]  # (bins, 1)
        angle = 2 * np.pi * (k * np.arange(T) % T) / T  # (bins, T)
        cos = torch.from_numpy(np.cos(angle) * (k <= T // 2)).to(z)
        sin = torch.from_numpy(np.sin(angle) * (k <= T // 2)).to(z)
    else:  # each series over its own length: (B, bins, T)
        n = lengths.to(z.device)[:, None, None]  # (B, 1, 1)
        k = torch.arange(1, bins + 1, device=z.device)[None, :, None]  # (1, bins, 1)
        t = torch.arange(T, device=z.device)[None, None, :]  # (1, 1, T)
        valid = ((t < n) & (k <= n // 2)).to(z.dtype)  # (B, bins, T)
        angle = (k * t % n).to(z.dtype) * (2 * math.pi) / n.to(z.dtype)  # phases kept in [0, 2 pi)
        cos, sin = torch.cos(angle) * valid, torch.sin(angle) * valid
    mag = torch.sqrt((cos @ z) ** 2 + (sin @ z) ** 2)  # (B, bins, C)
    mag = mag / (mag.sum(1, keepdim=True) + 1e-6)
    return mag.transpose(1, 2).flatten(1)  # (B, C * bins), channel-major


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
        summary_stats: bool = False,
        spectrum: int = 0,
        fixed_features: float = 0.0,
        input_batch_norm: bool = False,
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
        if spectrum < 0 or spectrum > int(input_shape[0]) // 2:
            raise ConfigError(
                f"lstm spectrum: expected 0 to {int(input_shape[0]) // 2} frequency bins "
                f"(half the window), got {spectrum}"
            )
        if fixed_features < 0:
            raise ConfigError(
                f"lstm fixed_features: expected a non-negative weight, got {fixed_features}"
            )
        self.pooling = pooling
        self.instance_norm = bool(instance_norm)
        self.fixed_features = float(fixed_features)
        self.fixed_bins = min(FIXED_BINS, int(input_shape[0]) // 2)
        self.summary_stats = bool(summary_stats)
        self.spectrum = int(spectrum)
        channels = int(input_shape[-1])
        # batch norm of the input channels before everything else (the telecom seed's input layer)
        self.input_bn = SequenceBatchNorm(channels) if input_batch_norm else None
        features = channels * (2 if instance_norm else 1)
        self.lstm = nn.LSTM(
            input_size=features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        width = hidden_size * (2 if bidirectional else 1)
        width *= {"concat": 3, "stats": 5}.get(pooling, 1)
        width += 12 * channels if self.summary_stats else 0  # 4 stats of x, 4 of its shape, 4 steps
        width += channels * self.spectrum
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
        if self.fixed_features:  # standardised by the training batches' running statistics
            fixed_width = channels * (12 + self.fixed_bins)
            self.fixed_norm = nn.BatchNorm1d(fixed_width, affine=False)
            self.embedding_dim = embedding_dim + fixed_width

    def _standardise(self, f: torch.Tensor) -> torch.Tensor:
        """``fixed_norm``: batch statistics in training; in eval its running statistics, written
        out as batch norm computes them (ONNX's batch norm needs a channel count the exporter
        cannot see here)."""
        bn = self.fixed_norm
        if self.training or bn.running_mean is None:
            return bn(f)
        scale = 1.0 / torch.sqrt(bn.running_var + bn.eps)  # (W,)
        return f * scale - bn.running_mean * scale  # (B, W)

    @staticmethod
    def _valid(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``(B, T, 1)``: 1 on the valid time steps, 0 on padding."""
        B, T, _ = x.shape
        if lengths is None:
            return torch.ones(B, T, 1, dtype=x.dtype, device=x.device)
        steps = torch.arange(T, device=x.device)[None, :]
        return (steps < lengths.to(x.device)[:, None]).to(x.dtype)[..., None]

    @staticmethod
    def _shape_of(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Each series standardised over its own (valid) time steps: shape, not level."""
        n = m.sum(1, keepdim=True).clamp(min=1)  # (B, 1, 1)
        mean = (x * m).sum(1, keepdim=True) / n  # (B, 1, F)
        std = (((x - mean) ** 2 * m).sum(1, keepdim=True) / n).sqrt()
        return (x - mean) / (std + 1e-3) * m

    @staticmethod
    def _input_features(
        x: torch.Tensor,
        xn: torch.Tensor,
        m: torch.Tensor,
        lengths: torch.Tensor | None,
        summary: bool,
        bins: int,
    ) -> list[torch.Tensor]:
        """The input's summary statistics (``summary``) and ``bins`` bins of its spectrum."""
        out = []
        if summary:
            out += _masked_stats(torch.cat([x, xn], dim=2), m)  # 4 x (B, 2F)
            step, both = xn[:, 1:] - xn[:, :-1], m[:, 1:] * m[:, :-1]  # step sizes of the shape
            mean_abs = (step.abs() * both).sum(1) / both.sum(1).clamp(min=1)
            out += [mean_abs] + _masked_stats(step, both, unbiased=True)[1:]  # 4 x (B, F)
        if bins:
            out.append(_spectrum(xn, None if lengths is None else lengths.cpu(), bins))
        return out

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        B, T, _ = x.shape  # (B, T, F)
        if lengths is not None:
            lengths = lengths.clamp(min=1, max=T)
        if self.input_bn is not None:
            x = self.input_bn(x, self._valid(x, lengths))  # (B, T, F)
        fixed: list[torch.Tensor] = []
        appended = None
        if self.instance_norm or self.summary_stats or self.spectrum or self.fixed_features:
            m = self._valid(x, lengths)
            xn = self._shape_of(x, m)
            fixed = self._input_features(x, xn, m, lengths, self.summary_stats, self.spectrum)
            if self.fixed_features:
                f = self._input_features(x, xn, m, lengths, True, self.fixed_bins)
                f = self._standardise(torch.cat(f, dim=1).detach())
                appended = F.normalize(f, dim=1, eps=1e-8) * self.fixed_features
            if self.instance_norm:
                x = torch.cat([x, xn], dim=2)  # (B, T, 2F)
        # The recurrence runs in float32 under CPU autocast: oneDNN has no bfloat16 LSTM kernel on
        # CPUs without bfloat16 units (it fails to build one), and the head still runs in bfloat16.
        cpu = x.device.type == "cpu"
        with torch.autocast("cpu", enabled=False) if cpu else contextlib.nullcontext():
            if cpu:
                x = x.float()
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
        mean, std, mx, mn = _masked_stats(out, mask[:, :, None].to(out.dtype))
        if self.pooling == "stats":
            parts = [last, mean, std, mx, mn]
        elif self.pooling == "concat":
            parts = [last, mean, mx]
        else:
            parts = [{"last": last, "mean": mean, "max": mx}[self.pooling]]
        emb = self.out(self.head(torch.cat(parts + fixed, dim=1)))  # (B, embedding_dim)
        return emb if appended is None else torch.cat([emb, appended], dim=1)


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
    summary_stats: bool = False,
    spectrum: int = 0,
    fixed_features: float = 0.0,
    input_batch_norm: bool = False,
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
        summary_stats,
        spectrum,
        fixed_features,
        input_batch_norm,
    )
