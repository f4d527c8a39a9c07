"""Small building blocks shared by the encoders."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from siamese.errors import ConfigError

ACTIVATIONS = ("none", "sigmoid", "l2")


class OutputActivation(nn.Module):
    """The embedding's last step: ``none``, ``sigmoid`` (bounded in [0, 1]) or ``l2`` (unit norm)."""

    def __init__(self, kind: str = "none"):
        super().__init__()
        if kind not in ACTIVATIONS:
            raise ConfigError(
                f"output_activation: expected one of {', '.join(ACTIVATIONS)}, got {kind!r}"
            )
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "sigmoid":
            return torch.sigmoid(x)
        if self.kind == "l2":
            return F.normalize(x, dim=-1, eps=1e-8)
        return x

    def extra_repr(self) -> str:
        return self.kind


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


def as_image_batch(x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, H, W)`` -> ``(B, 1, H, W)``, in the memory layout of the first conv's ``weight``."""
    x = x.unsqueeze(1) if x.dim() == 3 else x
    if weight is not None and weight.is_contiguous(memory_format=torch.channels_last):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def channels_last_(features: nn.Module) -> nn.Module:
    """Store a conv stack's weights channels-last (NHWC), in place; returns the module.

    With NHWC weights and inputs (``as_image_batch`` follows the weights), oneDNN's CPU convolutions
    work channels-last throughout, without layout reorders between layers: training steps of conv4
    (28x28) and the Koch CNN (105x105) run 1.4-1.5x faster and inference 1.2-1.75x
    (``benchmarks/throughput.py`` compares the two layouts). Values are unchanged; saved weights
    are written contiguous, so model files do not depend on the layout.
    """
    return features.to(memory_format=torch.channels_last)


def channels_of(input_shape: tuple[int, ...]) -> int:
    """Number of channels of an image item shape ``(H, W)`` or ``(C, H, W)``."""
    if len(input_shape) == 2:
        return 1
    if len(input_shape) == 3:
        return int(input_shape[0])
    raise ConfigError(
        f"input_shape: an image encoder expects items of shape (H, W) or (C, H, W), got {tuple(input_shape)}"
    )


def flat_size(features: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Size of ``features``' flattened output for one item (found with a dummy forward)."""
    shape = (1, 1, *input_shape) if len(input_shape) == 2 else (1, *input_shape)
    with torch.no_grad():
        was_training = features.training
        features.eval()
        out = features(torch.zeros(shape))
        features.train(was_training)
    return int(out.flatten(1).shape[1])


class SequenceBatchNorm(nn.Module):
    """Batch normalisation of a sequence's channels over the batch and its valid time steps.

    ``x (B, T, C)`` and ``mask (B, T, 1)`` (1 on valid steps, 0 on padding). In training each
    channel is standardised by the batch's own mean and variance over its valid steps, and the
    running statistics follow them (momentum ``momentum``, unbiased variance, as
    ``nn.BatchNorm1d``); in eval the running statistics are used. A learned scale and shift follow
    (``affine``). The buffers and parameters are those of ``nn.BatchNorm1d``, and the eval path is
    written out (``x * scale + shift``) so every exporter carries it.
    """

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = float(momentum), float(eps)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.training:
            n = mask.sum().clamp(min=1)  # valid steps in the batch
            mean = (x * mask).sum((0, 1)) / n  # (C,)
            var = (((x - mean) ** 2) * mask).sum((0, 1)) / n  # (C,), biased: what is divided by
            with torch.no_grad():
                unbiased = var * n / (n - 1).clamp(min=1)
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.weight / torch.sqrt(var + self.eps)  # (C,)
        return (x * scale + (self.bias - mean * scale)) * mask  # (B, T, C), padding kept at 0

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, momentum={self.momentum}"
