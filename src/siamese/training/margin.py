"""Margins that fit the embedding space: measured on the untrained model, checked, recorded.

A margin only means something against the distances it is compared with: 0.2 is a fifth of the
typical cosine distance of an untrained L2-normalised encoder, and nothing at all for unnormalised
1024-d euclidean embeddings whose distances are in the tens. ``objective.margin = "auto"`` sets the
margin from the distances the untrained model gives a sample of training items under the chosen
distance (``AUTO_FACTOR`` x their median); a fixed margin far outside that range gets a warning
naming both. ``margin.json`` in the run folder holds the distance distributions (same-class and
different-class pairs) before and after training, which the report plots against the margin.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from siamese.errors import ConfigError

SAMPLE_ITEMS = 512  # training items embedded to measure the distances
# margin = factor x the median distance of the untrained model (triplet: the default 0.2 of an
# untrained L2 encoder's cosine distances, about 1; contrastive: the default 1.0 of its euclidean
# distances, about 1.4, rounded to a typical distance)
AUTO_FACTOR = {"triplet": 0.2, "contrastive": 1.0}
TOO_SMALL = 0.05  # a fixed margin under 0.05 x the 5th percentile of the distances gets a warning


def distance_bound(distance: str, output_activation: str | None, dim: int) -> float | None:
    """The largest distance the embedding allows (None: unbounded, it can grow in training)."""
    if distance == "cosine":
        return 2.0
    radius = {"l2": 1.0, "sigmoid": 0.5 * dim**0.5, "tanh": dim**0.5}.get(output_activation or "")
    if radius is None:
        return None
    diameter = 2.0 * radius
    return diameter**2 if distance == "squared_euclidean" else diameter


def sample_distances(
    model: Any, data: Any, distance: Any, seed: int, n: int = SAMPLE_ITEMS
) -> dict[str, np.ndarray]:
    """Distances of same-class and different-class pairs among up to ``n`` training items."""
    rng = np.random.default_rng([seed, 17])
    idx = np.sort(rng.choice(len(data), size=min(n, len(data)), replace=False))
    sub = data.subset(idx)
    emb = torch.as_tensor(model.embed_dataset(sub)).float()  # (n, D)
    with torch.no_grad():
        d = distance.matrix(emb, emb).numpy()  # (n, n)
    labels = np.asarray(sub.labels)
    same = labels[:, None] == labels[None, :]
    upper = np.triu(np.ones_like(same), k=1)
    return {"pos": d[same & upper], "neg": d[~same & upper]}


def histogram(dists: dict[str, np.ndarray], bins: int = 40) -> dict[str, Any]:
    both = np.concatenate([dists["pos"], dists["neg"]])
    if both.size == 0:
        return {"edges": [], "pos": [], "neg": []}
    edges = np.linspace(float(both.min()), float(both.max()) + 1e-12, bins + 1)
    return {
        "edges": edges.tolist(),
        "pos": np.histogram(dists["pos"], edges)[0].tolist(),
        "neg": np.histogram(dists["neg"], edges)[0].tolist(),
        "quantiles": {q: float(np.quantile(both, float(q))) for q in ("0.05", "0.5", "0.95")},
    }


def fit_margin(
    objective_name: str,
    setting: float | str | None,
    objective: Any,
    dists: dict[str, np.ndarray],
    bound: float | None = None,
) -> dict[str, Any]:
    """Set ``objective.margin`` for ``"auto"``, or check a fixed margin against the distances.

    A fixed margin gets a warning when it is far below the untrained model's distances (it then
    asks for nothing), or when it is beyond ``bound``, the largest distance a bounded embedding
    allows (it can never be met). Above an unbounded embedding's distances it is left alone: those
    grow in training.

    Returns:
        the record for margin.json (margin, how it was set, the untrained distances).

    Raises:
        ConfigError: ``"auto"`` for an objective without a margin.
    """
    both = np.concatenate([dists["pos"], dists["neg"]])
    hist = histogram(dists)
    record: dict[str, Any] = {"distance": objective.distance.name, "untrained": hist}
    if both.size == 0:
        return {**record, "margin": getattr(objective, "margin", None), "set_by": "default"}
    p5, med, p95 = (float(np.quantile(both, q)) for q in (0.05, 0.5, 0.95))
    if setting == "auto":
        if objective_name not in AUTO_FACTOR:
            raise ConfigError(
                f'objective.margin = "auto": {objective_name} has no margin to set; "auto" works '
                f"with {', '.join(AUTO_FACTOR)}. Remove objective.margin"
            )
        objective.margin = AUTO_FACTOR[objective_name] * med
        return {
            **record,
            "margin": objective.margin,
            "set_by": f"auto: {AUTO_FACTOR[objective_name]:g} x median {med:.4g}",
        }
    margin = getattr(objective, "margin", None)
    small = margin is not None and 0 < margin < TOO_SMALL * p5
    large = margin is not None and bound is not None and margin >= bound
    if small or large:
        limit = f"; the embedding allows at most {bound:.3g}" if large else ""
        warnings.warn(
            f"objective.margin {margin:g} is far outside the {objective.distance.name} distances "
            f"of the untrained model ({p5:.3g} to {p95:.3g}, 5th-95th percentile, median "
            f'{med:.3g}){limit}; set objective.margin = "auto" (here '
            f"{med * AUTO_FACTOR.get(objective_name, 0.2):.3g}) or a margin in that range",
            stacklevel=2,
        )
    return {**record, "margin": margin, "set_by": "config" if setting is not None else "default"}
