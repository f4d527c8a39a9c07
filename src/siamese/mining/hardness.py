"""The definition of hardness, in one place.

For an anchor ``a`` let ``N(a)`` be its negatives (items of every other class) and
``d_min(a) = min_{n in N(a)} d(a, n)``, ``d_max(a) = max_{n in N(a)} d(a, n)``. The hardness of a
negative ``n`` for ``a`` is where its distance falls in that range::

    hardness(a, n) = (d_max(a) - d(a, n)) / (d_max(a) - d_min(a))

so 0 is the farthest negative and 1 the nearest. It is linear in distance (not a rank): a target
of 0.5 asks for a negative halfway between the nearest and the farthest distance, whether or not
many items lie there. When every negative is at the same distance (``d_max == d_min``) all of
them have hardness 1. ``d`` is the euclidean distance or the cosine distance ``1 - cos``.

Given a target ``h`` the ideal negative sits at distance ``d_max - h * (d_max - d_min)``; the
sequencer picks, among its candidates, the one whose hardness is closest to ``h`` and reports
that achieved hardness, computed with the same formula.
"""

from __future__ import annotations

import numpy as np


def negative_range(dist: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``d_min`` and ``d_max`` per row over the valid entries: ``(B, C), (B, C) -> (B,), (B,)``.

    Rows without a valid entry give ``nan``.
    """
    with np.errstate(invalid="ignore"):
        lo = np.where(valid, dist, np.inf).min(axis=1)
        hi = np.where(valid, dist, -np.inf).max(axis=1)
    none = ~valid.any(axis=1)
    lo[none] = np.nan
    hi[none] = np.nan
    return lo, hi


def hardness_of(dist: np.ndarray, d_min: np.ndarray, d_max: np.ndarray) -> np.ndarray:
    """Hardness of negatives at ``dist`` given the anchors' range (broadcasting), in [0, 1]."""
    dist, d_min, d_max = np.broadcast_arrays(
        np.asarray(dist, dtype=np.float64),
        np.asarray(d_min, dtype=np.float64),
        np.asarray(d_max, dtype=np.float64),
    )
    span = d_max - d_min
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.where(span > 0, (d_max - dist) / np.where(span > 0, span, 1.0), 1.0)
    return np.clip(h, 0.0, 1.0)


def exhaustive_hardness(
    features: np.ndarray,
    labels: np.ndarray,
    anchor: int,
    negative: int,
    distance: str = "euclidean",
) -> float:
    """Reference hardness by scanning every item (O(N·D)): for tests and benchmarks only."""
    x = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if distance == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        d = 1.0 - x @ x[anchor]
    else:
        d = np.sqrt(((x - x[anchor]) ** 2).sum(axis=1))
    neg = labels != labels[anchor]
    return float(hardness_of(d[negative], d[neg].min(), d[neg].max()))
