"""The enrolled classes' own spread, measured by the gallery's distance, for discovery.

Two figures per class, from the distances between its enrolled examples:

* how far each example lies from its nearest *other* enrolled example of the class (leave one
  out): a fresh item of the class is, by the same draw, about as far from its nearest enrolled
  example. Its upper quantile is a novelty threshold that needs no calibration queries.
* the mean distance between two of its examples: how wide a class is, the scale at which
  average linkage should stop merging (a new class as wide as the known ones is one cluster).

Large classes are sampled (seeded): at most ``PROBES`` examples each measured against at most
``REFERENCES`` of their classmates, so the cost stays ``O(classes x PROBES x REFERENCES)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

PROBES = 200  # examples per class whose distances are measured
REFERENCES = 4000  # classmates per class they are measured against
_CHUNK = 1024  # rows of a distance block computed at a time


def distances(model: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n, m)`` distances between embeddings ``a`` ``(n, D)`` and ``b`` ``(m, D)`` as a gallery
    of ``model`` measures them: the model's distance, or ``1 - p(same)`` of its pair head."""
    left_all = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # (n, D)
    right_all = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))  # (m, D)
    out = np.zeros((len(left_all), len(right_all)), dtype=np.float32)
    for start in range(0, len(left_all), _CHUNK):
        rows = left_all[start : start + _CHUNK]  # (c, D)
        with torch.no_grad():
            if model.head is not None:  # 1 - p(same) of every pair, by the head
                left = rows.repeat_interleave(len(right_all), 0)  # (c * m, D)
                right = right_all.repeat(len(rows), 1)  # (c * m, D)
                block = 1.0 - model.similarity(left, right).reshape(len(rows), len(right_all))
            else:
                block = model.distance.matrix(rows, right_all)  # (c, m)
        out[start : start + len(rows)] = block.numpy()
    return np.maximum(out, 0.0)


@dataclass(frozen=True)
class Spread:
    """Per enrolled class id: ``nearest[c]`` the sampled examples' distances to their nearest
    classmate (empty for a class of one example), ``mean[c]`` the mean distance between two of its
    examples (NaN for a class of one)."""

    nearest: list[np.ndarray]
    mean: np.ndarray

    def novelty_thresholds(self, rate: float) -> np.ndarray:
        """``(C,)`` per class the ``1 - rate`` quantile of ``nearest``: beyond it lie ``rate`` of
        the class's own examples. A class of one example takes the quantile over every class's
        examples. Returns NaN everywhere when no class has two examples."""
        pooled = [n for n in self.nearest if len(n)]
        if not pooled:
            return np.full(len(self.nearest), np.nan)
        every = float(np.quantile(np.concatenate(pooled), 1.0 - rate))
        return np.array(
            [float(np.quantile(n, 1.0 - rate)) if len(n) else every for n in self.nearest]
        )

    def width(self) -> float:
        """The median over classes of ``mean``: a typical class's width (NaN if none has two)."""
        have = self.mean[np.isfinite(self.mean)]
        return float(np.median(have)) if len(have) else float("nan")


def class_spread(model: Any, embeddings: Any, labels: np.ndarray, classes: int) -> Spread:
    """The ``Spread`` of ``classes`` enrolled classes: ``embeddings`` ``(N, D)`` (an array or a
    gallery's ``StoredRows``: only the sampled rows are read) with class ids ``labels`` ``(N,)``."""
    rng = np.random.default_rng(0)
    labels = np.asarray(labels)
    nearest: list[np.ndarray] = []
    mean = np.full(classes, np.nan)
    for c in range(classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            nearest.append(np.zeros(0))
            continue
        refs = np.sort(rng.choice(idx, min(REFERENCES, len(idx)), replace=False))
        probes = np.sort(rng.choice(len(refs), min(PROBES, len(refs)), replace=False))
        emb = np.asarray(embeddings[refs], dtype=np.float32)  # (r, D)
        d = distances(model, emb[probes], emb).astype(np.float64)  # (p, r)
        d[np.arange(len(probes)), probes] = np.inf  # not to itself
        nearest.append(d.min(axis=1))
        mean[c] = float(d[np.isfinite(d)].mean())
    return Spread(nearest, mean)
