"""What hovering a point of the embedding view shows: the item behind the point.

Each point gets a small record, embedded in the page as JSON: its class and where it came from,
and a preview of the item itself: a downsampled thumbnail for images, the series' values for
sequences (drawn by the page as a sparkline on shared per-channel axes, so amplitude is kept and
the axis values are printed), the most unusual features for vectors.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from siamese.data.labeled_dataset import LabeledDataset
from siamese.reporting.thumbnails import image_thumbnail

HOVER_THUMB = 48  # pixels of an image preview's longer side
SERIES_POINTS = 80  # time points kept per series preview (evenly spaced)
SERIES_CHANNELS = 5  # channels drawn, as in the series thumbnails
SERIES_LEVELS = 1000  # series values are stored as integers 0..SERIES_LEVELS on the shared axes
TOP_FEATURES = 6  # features listed for a vector


def hover_items(
    items: LabeledDataset,
    positions: np.ndarray,
    *,
    ranges: tuple[np.ndarray, np.ndarray] | None = None,
    normalised: np.ndarray | None = None,
    feature_names: list[str] | None = None,
    channels: list[str] | None = None,
) -> dict[str, Any]:
    """Previews of ``items[positions]``, in that order.

    Args:
        items: the split the points come from.
        positions: ``(n,)`` positions into ``items``, one per drawn point.
        ranges: sequences: per-channel ``(lo, hi)`` shared by every preview (the axis values).
        normalised: vectors: ``(n, F)`` the items after the model's normaliser, whose largest
            magnitudes pick the features listed (``None``: the raw values).
        feature_names: vectors: a name per feature.
        channels: sequences: a name per channel.

    Returns:
        ``{"kind", "items": [...], plus "lo"/"hi"/"channels" for sequences}``; each item holds
        ``c`` (class name), ``s`` (source) and one of ``img`` (PNG data URI), ``v`` (per channel,
        the values as integers on the shared axes) with ``n`` (its true length), or ``f``
        (``[name, raw value, normalised value]`` rows).
    """
    positions = np.asarray(positions, dtype=np.int64)
    x = items.load(positions) if len(positions) else np.zeros((0, *items.item_shape))
    out: dict[str, Any] = {"kind": items.kind, "items": []}
    if items.kind == "sequence":
        f = min(x.shape[-1] if x.ndim == 3 else 1, SERIES_CHANNELS)
        if ranges is None:
            flat = x.reshape(-1, x.shape[-1]) if x.ndim == 3 else x.reshape(-1, 1)
            ranges = (flat.min(axis=0), flat.max(axis=0))
        lo = np.asarray(ranges[0], dtype=np.float64)[:f]
        hi = np.asarray(ranges[1], dtype=np.float64)[:f]
        out["lo"], out["hi"] = [float(v) for v in lo], [float(v) for v in hi]
        out["channels"] = [
            channels[j] if channels and j < len(channels) else f"ch {j}" for j in range(f)
        ]
    for i, pos in enumerate(positions):
        rec: dict[str, Any] = {
            "c": items.class_names[int(items.labels[pos])],
            "s": items.sources[int(pos)],
        }
        if items.kind == "image":
            rec["img"] = image_thumbnail(x[i], HOVER_THUMB)
        elif items.kind == "sequence":
            length = len(x[i]) if items.lengths is None else int(items.lengths[pos])
            rec["n"] = length
            rec["v"] = series_levels(x[i], length, lo, hi).tolist()
        else:
            z = None if normalised is None else normalised[i]
            rec["f"] = top_features(x[i], z, feature_names)
        out["items"].append(rec)
    return out


def series_levels(item: np.ndarray, length: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``(channels, <= SERIES_POINTS)`` integer levels of one series on the shared axes.

    Level 0 is ``lo``, ``SERIES_LEVELS`` is ``hi``; values beyond are clipped (the page prints the
    axis values, so the amplitude of every preview reads on the same scale).
    """
    x = np.asarray(item, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    x = x[: max(int(length), 1), : len(lo)]  # (T, F)
    if len(x) > SERIES_POINTS:
        x = x[np.round(np.linspace(0, len(x) - 1, SERIES_POINTS)).astype(int)]
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = np.clip((x - lo) / span, 0.0, 1.0)
    return np.round(scaled * SERIES_LEVELS).astype(np.int64).T  # (F, T')


def top_features(
    raw: np.ndarray, normalised: np.ndarray | None, names: list[str] | None
) -> list[list[Any]]:
    """The ``TOP_FEATURES`` features of largest magnitude after normalisation (raw if none)."""
    raw = np.asarray(raw, dtype=np.float64).ravel()
    z = raw if normalised is None else np.asarray(normalised, dtype=np.float64).ravel()
    order = np.argsort(-np.abs(z), kind="stable")[:TOP_FEATURES]
    return [
        [
            names[j] if names and j < len(names) else f"feature {j}",
            float(f"{raw[j]:.4g}"),
            float(f"{z[j]:.3g}"),
        ]
        for j in order
    ]


def json_script(element_id: str, payload: Any) -> str:
    """``payload`` as an inert JSON script element the page's scripts read (``</`` escaped)."""
    text = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'
