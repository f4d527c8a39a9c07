"""Small pictures of single items for the examples: images, series and vectors."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from siamese.reporting._plot import figure, png_uri, to_data_uri

THUMB = 96  # pixels of an image thumbnail's longer side


def image_thumbnail(item: np.ndarray, size: int = THUMB) -> str:
    """An image item ``(C, H, W)`` or ``(H, W)`` as a PNG data URI, contrast-stretched.

    Args:
        item: one raw item (any numeric dtype; 1 or 3 channels).
        size: the thumbnail's longer side in pixels.
    """
    x = np.asarray(item, dtype=np.float32)
    if x.ndim == 3:
        x = x[0] if x.shape[0] == 1 else np.moveaxis(x[:3], 0, -1)  # (H, W) or (H, W, 3)
    lo, hi = float(x.min()), float(x.max())
    x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    im = Image.fromarray((x * 255).round().astype(np.uint8))
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return png_uri(buf.getvalue())


def channel_labels(
    channels: list[str] | None, lo: np.ndarray, hi: np.ndarray, *, shared: bool
) -> list[str]:
    """Full channel names, with the shared value range each band spans when there is one."""
    return [
        (channels[j] if channels and j < len(channels) else f"ch {j}")
        + (f" [{lo[j]:.3g}, {hi[j]:.3g}]" if shared else "")
        for j in range(len(lo))
    ]


SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
BAND = 26  # pixels per channel band of a series thumbnail
PLOT_WIDTH = 150  # pixels of the time axis


def series_thumbnail(
    item: np.ndarray,
    length: int | None = None,
    channels: list[str] | None = None,
    ranges: tuple[np.ndarray, np.ndarray] | None = None,
) -> str:
    """A sequence item ``(T, F)`` as a small line plot, one band per channel (drawn with PIL:
    a report draws dozens of them).

    Args:
        item: one raw item.
        length: its true length (padding after it is not drawn).
        channels: channel names (first 5 channels are drawn), printed in full.
        ranges: per-channel ``(min, max)`` shared by every thumbnail (the evaluation items'),
            so a quiet series looks quiet; without it each channel fills its band.
    """
    x = np.asarray(item, dtype=np.float32)
    x = x[:, None] if x.ndim == 1 else x
    x = x[: length or len(x), :5]  # (T, <=5)
    if ranges is not None:
        lo, hi = (np.asarray(r, dtype=np.float32)[: x.shape[1]] for r in ranges)
    else:
        lo, hi = x.min(axis=0), x.max(axis=0)
    scaled = np.clip((x - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0, 1.0)
    labels = channel_labels(channels, lo, hi, shared=ranges is not None)
    font = ImageFont.load_default()
    left = 6 + max(int(font.getlength(t)) for t in labels)
    bands = x.shape[1]
    im = Image.new("RGB", (left + PLOT_WIDTH + 4, bands * BAND + 14), "white")
    draw = ImageDraw.Draw(im)
    steps = max(len(x) - 1, 1)
    for j in range(bands):
        top = 2 + j * BAND
        draw.rectangle([left, top, left + PLOT_WIDTH, top + BAND - 4], outline="#dddddd")
        draw.text((2, top + BAND // 2 - 7), labels[j], fill="#333333", font=font)
        pts = [
            (left + PLOT_WIDTH * t / steps, top + (BAND - 5) * (1.0 - float(v)))
            for t, v in enumerate(scaled[:, j])
        ]
        draw.line(pts, fill=SERIES_COLOURS[j % len(SERIES_COLOURS)], width=1)
    draw.text((left, bands * BAND + 1), f"time steps 0-{len(x) - 1}", fill="#555555", font=font)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return png_uri(buf.getvalue())


def vector_thumbnail(item: np.ndarray) -> str:
    """A vector item ``(F,)`` as a row of bars (first 64 features)."""
    x = np.asarray(item, dtype=np.float32).ravel()[:64]
    fig, ax = figure(2.6, 1.3)
    ax.bar(np.arange(len(x)), x, color="#1f77b4", width=0.8)
    ax.set_xlabel("feature", fontsize=6, labelpad=1)
    ax.set_ylabel("value", fontsize=6)
    ax.tick_params(labelsize=6)
    ax.grid(False)
    fig.subplots_adjust(left=0.2, right=0.97, top=0.95, bottom=0.28)
    return to_data_uri(fig, dpi=80, tight=False)


def thumbnail(
    item: np.ndarray,
    kind: str,
    length: int | None = None,
    channels: list[str] | None = None,
    ranges: tuple[np.ndarray, np.ndarray] | None = None,
) -> str:
    """The right picture for an item of ``kind`` ``image``, ``sequence`` or ``vector``."""
    if kind == "image":
        return image_thumbnail(item)
    if kind == "sequence":
        return series_thumbnail(item, length, channels, ranges)
    return vector_thumbnail(item)
