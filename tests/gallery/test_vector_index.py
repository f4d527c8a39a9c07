"""VectorIndex: exact search equals brute force; HNSW/IVF/IVF-PQ recall; auto switch; faiss files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.errors import ConfigError, ModelFileError
from siamese.gallery import Gallery, VectorIndex
from siamese.gallery.vector_index import IVFPQ_MIN_TRAIN
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


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf", "ivfpq"])
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
        ConfigError, match="index: expected one of auto, exact, hnsw, ivf, ivfpq, got 'lsh'"
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


def clustered(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gallery and queries grouped as trained embeddings are: 2 per class, classes in groups."""
    rng = np.random.default_rng(seed)
    groups = rng.normal(size=(n // 40, dim))
    centres = groups[rng.integers(0, len(groups), n // 2)] + 0.35 * rng.normal(size=(n // 2, dim))
    x = centres[np.arange(n) % (n // 2)] + 0.1 * rng.normal(size=(n, dim))
    q = centres[rng.integers(0, n // 2, 50)] + 0.1 * rng.normal(size=(50, dim))
    return x.astype(np.float32), q.astype(np.float32)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_ivfpq_recall_against_exact_and_exact_scores(metric):
    x, q = clustered(4000, 32, seed=1)
    if metric == "ip":
        x, q = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (x, q))
    index = VectorIndex(32, metric, "ivfpq", nprobe=8)
    index.add(x[: IVFPQ_MIN_TRAIN - 1])
    assert index.structure == "exact"  # too few to train on: searched exactly meanwhile
    index.add(x[IVFPQ_MIN_TRAIN - 1 :])
    assert index.structure == "ivfpq" and index.ntotal == 4000
    scores, ids = index.search(q, 20)
    truth = brute(metric, x, q, 20)
    recall = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(ids, truth, strict=True)])
    assert recall >= 0.95
    picked = x[ids]  # (Q, 20, D): the scores are exact (re-ranked), of the rows the ids name

    exact = (
        ((picked - q[:, None]) ** 2).sum(-1) if metric == "l2" else (picked * q[:, None]).sum(-1)
    )
    np.testing.assert_allclose(scores, exact, rtol=1e-4, atol=1e-4)  # early rows moved over too


def test_auto_switches_to_ivfpq_past_its_size_and_l1_keeps_hnsw():
    x, _ = clustered(4000, 32, seed=2)
    index = VectorIndex(32, "l2", "auto", auto_exact_max=500, auto_ivfpq_min=2000)
    index.add(x[:1500])
    assert index.structure == "hnsw"
    index.add(x[1500:])
    assert index.structure == "ivfpq" and index.ntotal == 4000
    assert all(i in row for i, row in enumerate(index.search(x[:20], 10)[1].tolist()))
    l1 = VectorIndex(32, "l1", "auto", auto_exact_max=500, auto_ivfpq_min=2000)
    l1.add(x)
    assert l1.structure == "hnsw"
    odd = VectorIndex(3, "l2", "auto", auto_exact_max=10, auto_ivfpq_min=20)  # 3-d: no PQ
    odd.add(np.random.default_rng(0).normal(size=(50, 3)))
    assert odd.structure == "hnsw"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"kind": "ivfpq", "pq_m": 5},
            r"index pq_m: expected a divisor of the dimension 16, got 5",
        ),
        ({"kind": "ivfpq", "nprobe": 0}, "index nprobe: expected a positive integer, got 0"),
        ({"kind": "ivfpq", "k_factor": 0}, "index k_factor: expected a positive integer, got 0"),
        ({"kind": "ivfpq", "nlist": -1}, "index nlist: expected 0 or more, got -1"),
        ({"kind": "hnsw", "hnsw_m": 0}, "index hnsw_m: expected a positive integer, got 0"),
        ({"kind": "ivfpq", "metric": "l1"}, "'ivfpq' supports the metrics l2 and ip, got 'l1'"),
    ],
)
def test_bad_ivfpq_parameters_name_the_key(options, message):
    with pytest.raises(ConfigError, match=message):
        VectorIndex(16, **options)


def test_ivfpq_default_pq_m_needs_a_dimension_divisible_by_4():
    with pytest.raises(ConfigError, match=r"index pq_m: .* dimension 6, got the default dim / 4"):
        VectorIndex(6, "l2", "ivfpq")
    assert VectorIndex(6, "l2", "ivfpq", pq_m=6).pq_m == 6


def test_gallery_with_ivfpq_matches_exact_distances_and_survives_save_load(tmp_path, make_identity):
    identity_model = make_identity  # the conftest fixture (a module named conftest is ambiguous)
    x, q = clustered(3000, 32, seed=3)
    names = [f"c{i % 1500}" for i in range(len(x))]
    g = Gallery(identity_model(32), index="ivfpq").add_embeddings(x, names)
    assert g.index_.structure == "ivfpq"
    exact = Gallery(identity_model(32), index="exact").add_embeddings(x, names)
    got, want = g.identify_embeddings(q, k=1), exact.identify_embeddings(q, k=1)
    same = [a.label == b.label for a, b in zip(got, want, strict=True)]
    assert np.mean(same) >= 0.95
    # re-ranked exactly: each distance is a true one of a member of that class, so never below
    # the exact nearest, and equal to it unless the nearer member was missed
    d = np.array([[a.distance, b.distance] for a, b, s in zip(got, want, same, strict=True) if s])
    assert np.all(d[:, 0] >= d[:, 1] - 1e-5)
    assert np.mean(np.isclose(d[:, 0], d[:, 1], rtol=1e-4, atol=1e-5)) >= 0.9
    g.save(tmp_path / "g")
    back = Gallery.load(tmp_path / "g", model=identity_model(32))
    assert back.index_.structure == "ivfpq"
    assert [r.label for r in back.identify_embeddings(q, k=1)] == [r.label for r in got]
