"""Offline miners against an exhaustive search; online miners against brute force on a batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.errors import ConfigError, DataError
from siamese.mining import OfflineMiner, create_online_miner
from siamese.mining._farthest import FarthestSearch
from siamese.objectives import Cosine, Euclidean, SquaredEuclidean


def _problem(seed: int, n: int = 200, classes: int = 25):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(classes), rng.integers(0, classes, n - classes)])
    x = rng.standard_normal((classes, 6))[labels] + 0.8 * rng.standard_normal((n, 6))
    return x.astype(np.float32), labels


def _dist(x: np.ndarray, a: int) -> np.ndarray:
    return np.sqrt(((x.astype(np.float64) - x[a]) ** 2).sum(1))


@pytest.mark.parametrize("seed", range(3))
def test_offline_miners_match_exhaustive_search(seed: int) -> None:
    x, labels = _problem(seed)
    margin = 0.5
    out = {
        r: OfflineMiner(r, margin=margin, seed=seed).mine(labels, x, 300)
        for r in ("random", "easiest", "hardest", "semi_hard")
    }
    for rule, t in out.items():
        assert not np.any(labels[t.negative] == labels[t.anchor]), rule
        for i in range(len(t)):
            a, p, n = t.anchor[i], t.positive[i], t.negative[i]
            d = _dist(x, a)
            neg = labels != labels[a]
            if rule == "hardest":
                assert d[n] == pytest.approx(d[neg].min(), abs=1e-5)
                assert t.achieved[i] == pytest.approx(1.0)
            elif rule == "easiest":
                assert d[n] == pytest.approx(d[neg].max(), abs=1e-5)
                assert t.achieved[i] == pytest.approx(0.0)
            elif rule == "semi_hard":
                band = neg & (d > d[p] + 1e-5) & (d < d[p] + margin - 1e-5)
                beyond = neg & (d > d[p] + 1e-5)
                if band.any():
                    assert d[p] < d[n] < d[p] + margin
                elif beyond.any():
                    assert d[n] == pytest.approx(d[beyond].min(), abs=1e-5)
                else:
                    assert d[n] == pytest.approx(d[neg].max(), abs=1e-5)
    assert np.isnan(out["random"].target).all() and np.isfinite(out["random"].achieved).all()
    # random negatives are spread over the classes, not stuck on a few
    assert len(np.unique(labels[out["random"].negative])) > 20


def test_random_miner_needs_no_features_and_others_do() -> None:
    x, labels = _problem(0)
    t = OfflineMiner("random").mine(labels, None, 50)
    assert np.isnan(t.achieved).all() and not np.any(labels[t.negative] == labels[t.anchor])
    with pytest.raises(DataError, match="hardest mining needs features"):
        OfflineMiner("hardest").mine(labels, None, 5)
    with pytest.raises(ConfigError, match="unknown offline miner 'hard'.*valid miners"):
        OfflineMiner("hard")


def test_farthest_search_is_exact() -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((3000, 5)).astype(np.float32) * np.array([3, 2, 1, 1, 0.5], np.float32)
    q = rng.standard_normal((200, 5)).astype(np.float32) * 2
    fs = FarthestSearch(v, pool_size=256)
    got = fs.search(q, 4)
    d = ((q[:, None, :] - v[None]) ** 2).sum(-1)
    want = np.argsort(-d, axis=1)[:, :4]
    np.testing.assert_allclose(
        np.take_along_axis(d, got, 1), np.take_along_axis(d, want, 1), rtol=1e-5
    )
    assert 0 < fs.fallbacks < 200  # some certified by the pool, some by the flat search


def _brute(strategy: str, e: torch.Tensor, y: torch.Tensor, dist, margin: float) -> set:
    d = dist.matrix(e, e)
    out = set()
    for a in range(len(y)):
        pos = [p for p in range(len(y)) if p != a and y[p] == y[a]]
        neg = [n for n in range(len(y)) if y[n] != y[a]]
        if strategy == "batch_hard":
            if pos and neg:
                p = max(pos, key=lambda j: d[a, j])
                n = min(neg, key=lambda j: d[a, j])
                out.add((a, p, n))
            continue
        for p in pos:
            for n in neg:
                m = float(d[a, n] - d[a, p])
                if m <= margin and (strategy == "batch_all" or m > 0):
                    out.add((a, p, n))
    return out


@pytest.mark.parametrize("strategy", ["batch_hard", "batch_all", "semi_hard"])
@pytest.mark.parametrize("dist", [Euclidean(), SquaredEuclidean(), Cosine()])
def test_online_miners_match_brute_force(strategy: str, dist) -> None:
    g = torch.Generator().manual_seed(0)
    e = torch.randn(18, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 4, 5, 6, 6, 7])
    miner = create_online_miner(strategy, margin=0.3, distance=dist)
    a, p, n = miner.mine(e, y)
    assert a.dtype == torch.long and len(a) == len(p) == len(n)
    got = set(zip(a.tolist(), p.tolist(), n.tolist(), strict=True))
    assert got == _brute(strategy, e, y, dist, 0.3)
    assert len(got) > 0


def test_online_miner_factory() -> None:
    assert create_online_miner(None) is None and create_online_miner("none") is None
    assert "batch_hard" in repr(create_online_miner("batch_hard", distance="cosine"))
    with pytest.raises(ConfigError, match="unknown online miner 'hardest'.*batch_hard"):
        create_online_miner("hardest")
    with pytest.raises(ConfigError, match="no miner distance"):
        create_online_miner("batch_all", distance=object.__new__(type("Odd", (Euclidean,), {})))
