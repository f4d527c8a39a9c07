"""Training-time augmentation of series batches ``(B, T, F)``: jitter, scaling, window slicing.

The three classic augmentations for small time-series training sets (Le Guennec et al. 2016; Um
et al. 2017): add Gaussian noise to every step (``jitter``), multiply each series by a random
factor per dimension (``scale``), and crop a random window and stretch it back to the series'
length (``slice``). Applied to training batches only. Padded steps (beyond ``lengths``) stay zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

from siamese.errors import ConfigError


@dataclass
class SeriesAugment:
    """Random jitter, per-dimension scaling and window slicing of ``(B, T, F)`` series.

    Args:
        jitter: standard deviation of the Gaussian noise added to every value (in the units of
            the normalised input: 0.03 on z-normalised series).
        scale: standard deviation of the per-series, per-dimension factor around 1.
        slice: largest share of a series cropped away (uniform in ``[0, slice]``) before the
            rest is stretched back to the full length with linear interpolation.
        p: probability that a series is transformed at all.

    Raises:
        ConfigError: a negative value, ``slice`` >= 1 or ``p`` outside [0, 1].
    """

    jitter: float = 0.0
    scale: float = 0.0
    slice: float = 0.0
    p: float = 1.0

    def __post_init__(self) -> None:
        for name in ("jitter", "scale", "slice"):
            if float(getattr(self, name)) < 0:
                raise ConfigError(
                    f"augment.{name}: expected a non-negative number, got {getattr(self, name)}"
                )
        if self.slice >= 1:
            raise ConfigError(
                f"augment.slice: expected a fraction below 1 (e.g. 0.1), got {self.slice}"
            )
        if not 0 <= self.p <= 1:
            raise ConfigError(f"augment.p: expected a probability in [0, 1], got {self.p}")

    @classmethod
    def from_config(cls, spec: dict[str, Any] | None) -> SeriesAugment | None:
        """Build from a config table such as ``{jitter = 0.03, slice = 0.1}``; empty -> ``None``.

        Raises:
            ConfigError: an unknown key (the valid keys are listed) or a bad value.
        """
        if not spec:
            return None
        if not isinstance(spec, dict):
            raise ConfigError(f"augment: expected a table such as {{jitter = 0.03}}, got {spec!r}")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(spec) - set(valid))
        if unknown:
            raise ConfigError(f"augment: unknown keys {unknown}; valid keys: {', '.join(valid)}")
        return cls(**spec)

    takes_lengths = True  # the trainer passes each batch's true lengths

    def to_config(self) -> dict[str, Any]:
        """The arguments as plain data (saved with the run)."""
        return asdict(self)

    @property
    def is_identity(self) -> bool:
        return self.p == 0 or not (self.jitter or self.scale or self.slice)

    def __call__(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Transform a batch.

        Args:
            x: ``(B, T, F)`` series (zero-padded after ``lengths``).
            lengths: ``(B,)`` valid steps per series (default: all ``T``).
            generator: torch random generator (default: the global one, seeded by the trainer).

        Returns:
            ``float32`` series of the same shape; padded steps stay 0.
        """
        if self.is_identity or x.numel() == 0:
            return x
        B, T, nf = x.shape
        out = x.float().clone()  # (B, T, F)
        lens = torch.full((B,), T) if lengths is None else lengths.clamp(1, T).cpu()
        chosen = torch.rand(B, generator=generator) < self.p  # (B,)
        if self.slice:
            keep = 1 - torch.rand(B, generator=generator) * self.slice  # (B,) share kept
            for b in torch.nonzero(chosen).flatten().tolist():
                n = int(lens[b])
                width = max(2, int(round(float(keep[b]) * n)))
                if width >= n:
                    continue
                start = int(torch.randint(0, n - width + 1, (1,), generator=generator))
                window = out[b, start : start + width].T[None]  # (1, F, width)
                out[b, :n] = F.interpolate(window, size=n, mode="linear", align_corners=True)[0].T
        on = chosen.to(out.device)[:, None, None]  # draws on the host, applied where x is
        if self.scale:
            factor = 1 + torch.randn(B, 1, nf, generator=generator) * self.scale  # (B, 1, F)
            out = torch.where(on, out * factor.to(out.device), out)
        if self.jitter:
            noise = torch.randn(out.shape, generator=generator) * self.jitter  # (B, T, F)
            out = torch.where(on, out + noise.to(out.device), out)
        valid = torch.arange(T)[None, :] < lens[:, None]  # (B, T)
        return out * valid[..., None].to(out.device, out.dtype)
