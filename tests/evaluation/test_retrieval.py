"""Retrieval metrics against a brute-force loop, and their edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.errors import DataError
from siamese.evaluation.retrieval import retrieval_metrics


def _brute(emb, labels, ks):
    n = len(emb)
    d = ((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
    top = {k: [] for k in ks}
    aps = []
    for q in range(n):
        r = int((labels == labels[q]).sum()) - 1
        if r == 0:
            continue
        others = [j for j in sorted(range(n), key=lambda j: (d[q, j], j)) if j != q]
        for k in ks:
            top[k].append(any(labels[j] == labels[q] for j in others[:k]))
        hits, precisions = 0, []
        for i, j in enumerate(others[:r], start=1):
            if labels[j] == labels[q]:
                hits += 1
                precisions.append(hits / i)
        aps.append(sum(precisions) / r)
    return {k: float(np.mean(v)) for k, v in top.items()}, float(np.mean(aps))


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, size=60)
    labels[0] = 9  # a class with a single item: not a query
    emb = rng.normal(size=(60, 3)) + labels[:, None] * 0.7
    res = retrieval_metrics(emb, labels, distance="squared_euclidean", ks=(1, 3, 10), chunk=7)
    top, map_r = _brute(emb, labels, (1, 3, 10))
    assert res["queries"] == 59
    assert res["top_k"] == pytest.approx(top)
    assert res["map_at_r"] == pytest.approx(map_r)


def test_perfect_and_errors():
    emb = np.array([[0.0, 0], [0, 0.1], [5, 5], [5, 5.1]])
    res = retrieval_metrics(emb, np.array([0, 0, 1, 1]), ks=(1, 5))
    assert res["top_k"] == {1: 1.0, 5: 1.0} and res["map_at_r"] == 1.0
    with pytest.raises(DataError, match="at least one class with 2 or more items"):
        retrieval_metrics(emb, np.array([0, 1, 2, 3]))
    with pytest.raises(DataError, match="4 embeddings but 3 labels"):
        retrieval_metrics(emb, np.array([0, 0, 1]))
