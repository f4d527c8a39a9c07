"""Training-time image augmentation with plain torch tensor ops, and rotated copies as new classes.

``ImageAugment`` draws one random affine transform per image (rotation, shift, scale, shear and
an optional horizontal flip) and applies them all with a single ``affine_grid``/``grid_sample``
call, so a batch of 256 small images costs a few milliseconds on a CPU. It is applied to the
training batches only (never to validation, evaluation or enrolment).

``rotated_classes`` is the classic Omniglot trick: a character rotated by 90, 180 or 270 degrees
is a new character, which multiplies the training classes by four (964 -> 3,856).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from siamese.data.item_store import ArrayStore
from siamese.data.labeled_dataset import PER_ITEM_META, LabeledDataset
from siamese.errors import ConfigError

PADDING = ("zeros", "border", "reflection")


@dataclass
class ImageAugment:
    """Random affine augmentation of ``(B, C, H, W)`` image batches.

    Args:
        rotate: largest rotation in degrees (uniform in ``[-rotate, rotate]``).
        shift: largest translation as a fraction of the image size (each axis).
        scale: largest relative zoom (uniform in ``[1 - scale, 1 + scale]``).
        shear: largest shear angle in degrees.
        flip: mirror left-right with probability 1/2 (faces, not characters).
        p: probability that an image is transformed at all.
        padding: what fills the area moved into view: ``zeros`` (dark background, ink-bright
            characters), ``border`` (repeat the edge, photos) or ``reflection``.

    Raises:
        ConfigError: a negative range, ``scale`` >= 1, ``p`` outside [0, 1] or an unknown padding.
    """

    rotate: float = 0.0
    shift: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    flip: bool = False
    p: float = 1.0
    padding: str = "zeros"

    def __post_init__(self) -> None:
        for name in ("rotate", "shift", "scale", "shear"):
            if float(getattr(self, name)) < 0:
                raise ConfigError(
                    f"augment.{name}: expected a non-negative number, got {getattr(self, name)}"
                )
        if self.scale >= 1:
            raise ConfigError(
                f"augment.scale: expected a fraction below 1 (e.g. 0.1), got {self.scale}"
            )
        if not 0 <= self.p <= 1:
            raise ConfigError(f"augment.p: expected a probability in [0, 1], got {self.p}")
        if self.padding not in PADDING:
            raise ConfigError(
                f"augment.padding: expected one of {', '.join(PADDING)}, got {self.padding!r}"
            )

    @classmethod
    def from_config(cls, spec: dict[str, Any] | None) -> ImageAugment | None:
        """Build from a config table such as ``{rotate = 10, shift = 0.1}``; ``None``/``{}`` -> ``None``.

        Raises:
            ConfigError: an unknown key (the valid keys are listed) or a bad value.
        """
        if not spec:
            return None
        if not isinstance(spec, dict):
            raise ConfigError(
                f"augment: expected a table such as {{rotate = 10, shift = 0.1}}, got {spec!r}"
            )
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(spec) - set(valid))
        if unknown:
            raise ConfigError(f"augment: unknown keys {unknown}; valid keys: {', '.join(valid)}")
        return cls(**spec)

    def to_config(self) -> dict[str, Any]:
        """The arguments as plain data (saved with the run)."""
        return asdict(self)

    @property
    def is_identity(self) -> bool:
        return self.p == 0 or not (
            self.rotate or self.shift or self.scale or self.shear or self.flip
        )

    def matrices(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, 2, 3)`` random affine matrices in ``affine_grid``'s normalised coordinates."""

        def uniform(limit: float) -> torch.Tensor:
            return (torch.rand(n, generator=generator) * 2 - 1) * limit  # (n,)

        angle = uniform(math.radians(self.rotate))
        shear = uniform(math.radians(self.shear))
        zoom = 1 + uniform(self.scale)
        tx, ty = uniform(2 * self.shift), uniform(2 * self.shift)  # [-1, 1] spans the image: x2
        cos, sin = torch.cos(angle), torch.sin(angle)
        # The grid maps output to input coordinates: dividing by the zoom enlarges the content.
        a = torch.stack([cos, -sin + torch.tan(shear) * cos], dim=1) / zoom[:, None]  # (n, 2)
        b = torch.stack([sin, cos + torch.tan(shear) * sin], dim=1) / zoom[:, None]  # (n, 2)
        theta = torch.stack([torch.cat([a, tx[:, None]], 1), torch.cat([b, ty[:, None]], 1)], 1)
        if self.flip:
            mirror = torch.rand(n, generator=generator) < 0.5  # (n,)
            theta[mirror, :, 0] *= -1
        if self.p < 1:
            keep = torch.rand(n, generator=generator) >= self.p  # (n,) left untouched
            theta[keep] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        return theta

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform a batch.

        Args:
            x: ``(B, C, H, W)`` or ``(B, H, W)`` images, any numeric dtype (uint8 in 0..255 too).
            generator: torch random generator (default: torch's global one, seeded per epoch by
                the trainer).

        Returns:
            ``float32`` images of the same shape and value range.
        """
        if self.is_identity or x.numel() == 0:
            return x
        squeeze = x.dim() == 3
        img = (x.unsqueeze(1) if squeeze else x).float()  # (B, C, H, W)
        theta = self.matrices(img.shape[0], generator).to(img.device)  # (B, 2, 3): host draws
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)  # (B, H, W, 2)
        out = F.grid_sample(
            img, grid, mode="bilinear", padding_mode=self.padding, align_corners=False
        )
        return out.squeeze(1) if squeeze else out


def rotated_classes(dataset: LabeledDataset, turns: tuple[int, ...] = (1, 2, 3)) -> LabeledDataset:
    """Add each class rotated by ``turns`` x 90 degrees as a new class (Omniglot's 964 -> 3,856).

    Args:
        dataset: square images ``(C, H, H)`` or ``(H, H)``.
        turns: quarter turns to add (counter-clockwise); the originals are always kept.

    Returns:
        A dataset of ``(1 + len(turns))`` times the items in memory; class ``c`` rotated by
        ``t`` quarter turns is class ``c + t' * C`` (``t'`` its position in ``turns`` plus one),
        named ``"<name>@rot<degrees>"``.

    Raises:
        ConfigError: non-square images, or a turn outside 1..3.
    """
    shape = dataset.item_shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ConfigError(f"rotated classes: need square images, got item shape {shape}")
    bad = [t for t in turns if t not in (1, 2, 3)]
    if bad:
        raise ConfigError(f"rotated classes: turns must be 1, 2 or 3 quarter turns, got {bad}")
    x = dataset.load(np.arange(len(dataset)))  # (N, ..., H, H)
    n_cls = len(dataset.class_names)
    items = [x] + [np.rot90(x, k=t, axes=(-2, -1)) for t in turns]
    return LabeledDataset(
        items=ArrayStore(np.ascontiguousarray(np.concatenate(items))),
        labels=np.concatenate([dataset.labels + r * n_cls for r in range(len(items))]),
        class_names=list(dataset.class_names)
        + [f"{c}@rot{90 * t}" for t in turns for c in dataset.class_names],
        sources=list(dataset.sources)
        + [f"{s}@rot{90 * t}" for t in turns for s in dataset.sources],
        kind=dataset.kind,
        split=None if dataset.split is None else np.tile(dataset.split, len(items)),
        meta={**_tiled_meta(dataset, len(items)), "rotated_classes": list(turns)},
    )


def _tiled_meta(dataset: LabeledDataset, copies: int) -> dict[str, Any]:
    """``meta`` for ``copies`` copies of every item in order: per-item entries tiled alike (a
    rotated catalog image is the reference of its rotated class)."""
    meta = dict(dataset.meta)
    for key in PER_ITEM_META:
        value = meta.get(key)
        if value is not None and len(value) == len(dataset):
            meta[key] = np.tile(np.asarray(value), copies)
    return meta


def center_crop(
    dataset: LabeledDataset,
    crop: int | list[int],
    size: int | list[int] | None = None,
    *,
    chunk: int = 512,
) -> LabeledDataset:
    """Keep the central ``crop`` pixels of every image, then resize to ``size`` (antialiased).

    For aligned faces (LFW deep-funneled 150x150: the face fills the central ~100x100), the
    crop drops background and hair that say little about who it is.

    Args:
        dataset: images ``(C, H, W)``.
        crop: side (or ``[height, width]``) of the central box, in the images' pixels.
        size: side (or ``[height, width]``) to resize the box to; ``None`` keeps the crop size.
        chunk: images decoded at a time (bounds the memory of large image files).

    Returns:
        A dataset of the same labels with the cropped images in memory (``uint8``).

    Raises:
        ConfigError: a crop larger than the images.
    """
    shape = dataset.item_shape
    ch, cw = (crop, crop) if isinstance(crop, int) else (int(crop[0]), int(crop[1]))
    h, w = int(shape[-2]), int(shape[-1])
    if not (0 < ch <= h and 0 < cw <= w):
        raise ConfigError(f"crop: expected a box within the {h}x{w} images, got {ch}x{cw}")
    out_hw = (ch, cw) if size is None else ((size, size) if isinstance(size, int) else tuple(size))
    top, left = (h - ch) // 2, (w - cw) // 2
    pieces = []
    for start in range(0, len(dataset), chunk):
        x = torch.as_tensor(dataset.load(np.arange(start, min(start + chunk, len(dataset)))))
        x = x[..., top : top + ch, left : left + cw].float()  # (B, C, ch, cw)
        if tuple(out_hw) != (ch, cw):
            x = F.interpolate(
                x, size=tuple(out_hw), mode="bilinear", antialias=True, align_corners=False
            )
        pieces.append(x.round().clamp(0, 255).to(torch.uint8).numpy())
    items = np.concatenate(pieces) if pieces else np.zeros((0, *shape[:-2], *out_hw), np.uint8)
    return dataclasses.replace(
        dataset,
        items=ArrayStore(items),
        meta={**dataset.meta, "center_crop": [ch, cw], "size": list(out_hw)},
    )
