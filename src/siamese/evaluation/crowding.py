"""Crowding correction of nearest-neighbour identification (hubness reduction with a background set).

A network trained on a few classes packs each of them into a tight cluster and spreads whatever
it has not seen thinly. With one enrolled example per class, a query of a never-seen class is then
often nearer to the enrolled example of a *seen* class (in a crowded region) than to the enrolled
example of its own class (in a sparse region): the crowded examples act as hubs.

The correction measures how crowded each enrolled example's neighbourhood is in a background set
(typically the training data, never the queries), as the mean distance ``r(s)`` to its ``k``
nearest background items, and ranks enrolled examples by ``d(q, s) - beta * r(s)``. With
``beta = 0.5`` this is the ranking of CSLS (Conneau et al., 2018, "Word translation without
parallel data"), which uses the same local-scaling idea with a reference set; larger ``beta``
favours sparse-region examples more. It needs no query statistics, so it works for one query at a
time (a service) as well as for a batch.
"""

from __future__ import annotations

import numpy as np
import torch

from siamese.errors import ConfigError
from siamese.objectives.distances import Distance, get_distance


def check_settings(
    beta: float | None = None, k: int | None = None, background_size: int | None = None
) -> None:
    """Check crowding settings: ``beta >= 0`` and ``1 <= k <= background_size``.

    Raises:
        ConfigError: naming the setting and the valid range.
    """
    if beta is not None and beta < 0:
        raise ConfigError(f"crowding beta: expected a non-negative number, got {beta}")
    if k is not None and background_size is not None and not 1 <= k <= background_size:
        raise ConfigError(
            f"crowding k: expected 1 <= k <= {background_size} (the background's size), got {k}"
        )


def neighbourhood_radius(
    points: np.ndarray | torch.Tensor,
    background: np.ndarray | torch.Tensor,
    distance: Distance | str,
    *,
    k: int = 10,
    chunk: int = 2048,
) -> np.ndarray:
    """Mean distance of each point to its ``k`` nearest background items: ``(N, D) -> (N,)``.

    A point that is itself in ``background`` counts its zero distance to itself, like any other
    neighbour; pass a background without the points for the leave-one-out version.

    Raises:
        ConfigError: ``k`` below 1 or larger than the background, or mismatched dimensions.
    """
    dist = get_distance(distance)
    pts = torch.as_tensor(np.asarray(points, dtype=np.float32))
    bg = torch.as_tensor(np.asarray(background, dtype=np.float32))
    if pts.ndim != 2 or bg.ndim != 2 or pts.shape[1] != bg.shape[1]:
        raise ConfigError(
            f"crowding: expected (N, D) points and (M, D) background of the same D, got "
            f"{tuple(pts.shape)} and {tuple(bg.shape)}"
        )
    check_settings(k=k, background_size=len(bg))
    out = torch.empty(len(pts))
    with torch.no_grad():
        for start in range(0, len(pts), chunk):
            d = dist.matrix(pts[start : start + chunk], bg)  # (chunk, M)
            out[start : start + chunk] = d.topk(k, dim=1, largest=False).values.mean(dim=1)
    return out.numpy()


def crowding_offsets(
    support: np.ndarray | torch.Tensor,
    background: np.ndarray | torch.Tensor,
    distance: Distance | str,
    *,
    beta: float = 0.5,
    k: int = 10,
) -> np.ndarray:
    """Per-support amounts to subtract from query-support distances: ``beta * r(s)``, ``(S,)``.

    Raises:
        ConfigError: a negative ``beta`` (and as ``neighbourhood_radius``).
    """
    check_settings(beta=beta)
    if beta == 0:
        return np.zeros(len(support), dtype=np.float32)
    return beta * neighbourhood_radius(support, background, distance, k=k)
