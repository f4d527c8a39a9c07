"""VectorIndex: exact search equals brute force; HNSW/IVF recall; auto switch; faiss files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.errors import ConfigError, ModelFileError
from siamese.gallery import Gallery, VectorIndex
from siamese.objectives.distances import get_distance

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2000, 16)).astype(np.float32)
Q = RNG.normal(size=(40, 16)).astype(np.float32)


def brute(metric: str, x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    if metric == "ip":
        d = -(q @ x.T)
    else:
        name = {"l2": "squared_euclidean", "l1": "l1"}[metric]
        d = get_distance(name).matrix(torch.from_numpy(q), torch.from_numpy(x)).numpy()
    return np.argsort(d, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("metric", ["l2", "ip", "l1"])
def test_exact_search_equals_brute_force(metric):
    index = VectorIndex(16, metric, "exact")
    index.add(X)
    _, ids = index.search(Q, 10)
    np.testing.assert_array_equal(ids, brute(metric, X, Q, 10))


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_have_high_recall(kind):
    index = VectorIndex(16, "l2", kind)
    index.add(X[:1000])
    index.add(X[1000:])  # grows after the first build
    assert index.structure == kind and index.ntotal == 2000
    _, ids = index.search(Q, 10)
    truth = brute("l2", X, Q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)])
    assert recall >= 0.95


def test_auto_switches_to_hnsw_past_the_size_limit():
    index = VectorIndex(16, "l2", "auto", auto_exact_max=500)
    index.add(X[:400])
    assert index.structure == "exact"
    index.add(X[400:])
    assert index.structure == "hnsw" and index.ntotal == 2000
    _, ids = index.search(X[:5], 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(5))  # the old vectors moved over


def test_gallery_auto_choice_is_exact_when_small(mlp_model):
    g = Gallery(mlp_model).fit(np.zeros((4, 8), np.float32), ["a", "b", "c", "d"])
    assert g.index_.structure == "exact"
    assert (
        Gallery(mlp_model, index="hnsw")
        .fit(np.zeros((2, 8), np.float32), ["a", "b"])
        .index_.structure
        == "hnsw"
    )


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_save_and_load_round_trip(tmp_path, kind):
    index = VectorIndex(16, "ip", kind)
    index.add(X)
    index.save(tmp_path / "i.faiss")
    back = VectorIndex.load(tmp_path / "i.faiss", metric="ip", kind=kind)
    assert back.structure == kind
    np.testing.assert_array_equal(back.search(Q, 5)[1], index.search(Q, 5)[1])
    with pytest.raises(ModelFileError, match="does not match the gallery's 'l2'"):
        VectorIndex.load(tmp_path / "i.faiss", metric="l2")


def test_bad_arguments_and_files(tmp_path):
    with pytest.raises(
        ConfigError, match="index: expected one of auto, exact, hnsw, ivf, got 'lsh'"
    ):
        VectorIndex(16, kind="lsh")
    with pytest.raises(ConfigError, match="index metric: expected one of"):
        VectorIndex(16, metric="cosine")
    with pytest.raises(ConfigError, match=r"expected shape \(N, 16\), got \(3, 4\)"):
        VectorIndex(16).add(np.zeros((3, 4)))
    with pytest.raises(ModelFileError, match="missing vector index file"):
        VectorIndex.load(tmp_path / "none.faiss", metric="l2")
    (tmp_path / "bad.faiss").write_bytes(b"\x00" * 20)
    with pytest.raises(ModelFileError, match="corrupt vector index"):
        VectorIndex.load(tmp_path / "bad.faiss", metric="l2")
