"""A short measured reason beside each example pair: how far its score is from the threshold,
and how its two items differ where a simple measure exists (brightness and contrast of images,
length and amplitude of series), against the median difference over all the scored pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siamese.data.labeled_dataset import LabeledDataset
from siamese.reporting import html as h

CHUNK = 512  # items loaded at a time


@dataclass
class PairMeasures:
    """Per-item measures of the items the pairs index, and their names.

    Attributes:
        values: ``{measure name: (n,) value per item}`` (NaN for items in no pair).
        medians: ``{measure name: median |difference| over all the pairs}``.
    """

    values: dict[str, np.ndarray]
    medians: dict[str, float]


def item_measures(items: LabeledDataset, positions: np.ndarray) -> dict[str, np.ndarray]:
    """Brightness and contrast (mean and standard deviation of the pixel values) of images;
    length (true time steps) and amplitude (standard deviation over them) of series."""
    n = len(items)
    if items.kind == "vector":
        return {}
    names = ("brightness", "contrast") if items.kind == "image" else ("length", "amplitude")
    out = {k: np.full(n, np.nan) for k in names}
    positions = np.unique(np.asarray(positions, dtype=np.int64))
    for start in range(0, len(positions), CHUNK):
        pos = positions[start : start + CHUNK]
        x = items.load(pos).astype(np.float64)
        if items.kind == "image":
            flat = x.reshape(len(x), -1)
            out["brightness"][pos], out["contrast"][pos] = flat.mean(1), flat.std(1)
            continue
        x = x[..., None] if x.ndim == 2 else x  # (b, T, F)
        lens = np.full(len(x), x.shape[1]) if items.lengths is None else items.lengths[pos]
        out["length"][pos] = lens
        valid = np.arange(x.shape[1])[None, :] < lens[:, None]  # (b, T)
        amp = [x[i][valid[i]].std(axis=0).mean() for i in range(len(x))]  # mean over channels
        out["amplitude"][pos] = amp
    return out


def pair_measures(items: LabeledDataset, left: np.ndarray, right: np.ndarray) -> PairMeasures:
    """The measures of every item in the pairs and the median difference over the pairs."""
    values = item_measures(items, np.concatenate([left, right]))
    medians = {k: float(np.median(np.abs(v[left] - v[right]))) for k, v in values.items()}
    if items.lengths is None:  # equal lengths: nothing to say about them
        values.pop("length", None)
        medians.pop("length", None)
    return PairMeasures(values, medians)


def pair_reason(
    measures: PairMeasures,
    a: int,
    b: int,
    score: float,
    threshold: float,
    *,
    head: bool,
) -> str:
    """One line: the score against the threshold, then each measure of the two items.

    Args:
        a, b: the two items' positions.
        score: the pair's similarity (a distance model: minus the distance).
        threshold: the similarity at or above which a pair is called same.
        head: the score is a pair-head probability (else a distance).
    """
    gap = h.fmt(abs(score - threshold))
    if head:
        side = "below" if score < threshold else "above"
        text = f"probability {h.fmt(score)}: {gap} {side} the threshold {h.fmt(threshold)}"
    else:
        side = "beyond" if score < threshold else "inside"
        text = f"{gap} {side} the distance bound {h.fmt(-threshold)}"
    parts = [text]
    for name, v in measures.values.items():
        d = abs(v[a] - v[b])
        median = measures.medians[name]
        ratio = f", {d / median:.1f}x the median pair's" if median > 0 else ""
        parts.append(f"{name} {v[a]:.3g} vs {v[b]:.3g} (difference {d:.3g}{ratio})")
    return "; ".join(parts)
