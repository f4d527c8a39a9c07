"""Retrieval quality of an embedding: top-K accuracy and MAP@R (Musgrave et al., 2020).

Every item is a query against all the others (leave-one-out); neighbours are ranked by the model's
distance. The distance matrix is computed in row chunks, so memory stays ``chunk x N``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from siamese.errors import DataError
from siamese.objectives.distances import Distance, get_distance


def _neighbours(emb: torch.Tensor, distance: Distance, k: int, chunk: int) -> np.ndarray:
    """Indices ``(N, k)`` of each row's ``k`` nearest other rows (self excluded)."""
    n = len(emb)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        d = distance.matrix(emb[start:stop], emb).clone()  # (c, N)
        rows = torch.arange(stop - start)
        d[rows, rows + start] = float("inf")  # a query is not its own neighbour
        # Stable order on ties: by distance, then by index (torch.topk is not stable).
        order = np.argsort(d.numpy(), axis=1, kind="stable")[:, :k]
        out[start:stop] = order
    return out


def retrieval_metrics(
    embeddings: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    *,
    distance: Distance | str = "euclidean",
    ks: tuple[int, ...] = (1, 5, 10),
    chunk: int = 512,
) -> dict[str, Any]:
    """Leave-one-out top-K accuracy and MAP@R.

    Top-K accuracy: the share of queries with at least one item of their class among their K
    nearest neighbours. MAP@R: for a query whose class has R other items, the mean over its R
    nearest neighbours of precision@i at each correct position i (so order matters and a
    perfect ranking scores 1). Queries whose class has no other item are left out.

    Args:
        embeddings: ``(N, D)`` embeddings.
        labels: ``(N,)`` their classes.
        distance: how embeddings are compared (smaller = closer).
        ks: the K values for top-K accuracy (each capped at N - 1).
        chunk: query rows per distance block.

    Returns:
        ``{"top_k": {K: accuracy}, "map_at_r": float, "queries": int}``.

    Raises:
        DataError: fewer than 2 items, or no class with 2 or more items.
    """
    emb = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)  # (N, D)
    labels = np.asarray(labels)
    if len(emb) != len(labels):
        raise DataError(f"retrieval: {len(emb)} embeddings but {len(labels)} labels")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    r = counts[inverse] - 1  # (N,) other items of each query's class
    valid = r > 0
    if len(emb) < 2 or not valid.any():
        raise DataError("retrieval: needs at least one class with 2 or more items")
    dist = get_distance(distance)
    kmax = int(min(len(emb) - 1, max(max(ks), int(r.max()))))
    nn = _neighbours(emb, dist, kmax, chunk)  # (N, kmax)
    hit = labels[nn] == labels[:, None]  # (N, kmax)
    top_k = {int(k): float(hit[valid, : min(k, kmax)].any(axis=1).mean()) for k in ks}
    positions = np.arange(1, kmax + 1)
    within_r = positions[None, :] <= r[:, None]  # (N, kmax)
    rel = hit & within_r
    precision = np.cumsum(rel, axis=1) / positions[None, :]
    ap = (precision * rel).sum(axis=1) / np.maximum(r, 1)
    return {"top_k": top_k, "map_at_r": float(ap[valid].mean()), "queries": int(valid.sum())}
