"""Gallery.discover: the unknown queries clustered into new classes, checked against brute force;
enrolling a cluster; every bad input one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.errors import ConfigError, DataError
from siamese.gallery import Gallery
from siamese.gallery.discover import cluster_distances, pairwise_distances


def _class(centre: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return (centre + 0.2 * rng.normal(size=(n, len(centre)))).astype(np.float32)


@pytest.fixture
def world(make_identity):
    """3 enrolled classes (6 examples each) at 10 x unit vectors e0-e2, calibrated on a class
    that is not enrolled (at 5 x e3: 11.2 from the known ones); queries: 6 of each known class
    and 12 of each of two new classes at 10 x e4 and 10 x e5 (14.1 from everything)."""
    rng = np.random.default_rng(3)
    centres = 10.0 * np.eye(6)
    g = Gallery(make_identity(6)).fit(
        np.concatenate([_class(centres[c], 6, rng) for c in range(3)]),
        [f"s3c{c}" for c in range(3) for _ in range(6)],
    )
    calib = np.concatenate(
        [_class(centres[c], 6, rng) for c in range(3)] + [_class(centres[3] / 2, 24, rng)]
    )
    g.calibrate(calib, [f"s3c{c}" for c in range(3) for _ in range(6)] + ["other"] * 24, far=0.01)
    sizes = [6, 6, 6, 0, 12, 12]
    q = np.concatenate([_class(centres[c], n, rng) for c, n in enumerate(sizes) if n])
    truth = np.array([f"s3c{c}" for c, n in enumerate(sizes) for _ in range(n)])
    return g, q, truth


@pytest.mark.parametrize("method", ["agglomerative", "hdbscan"])
def test_new_classes_become_pure_clusters(world, method):
    g, q, truth = world
    found = g.discover(q, method=method)
    new = np.flatnonzero(np.isin(truth, ["s3c4", "s3c5"]))
    assert sorted(found.unknown) == new.tolist()  # exactly the new classes are unknown
    assert found.known == len(q) - len(new) and found.queries == len(q)
    assert len(found.clusters) == 2 and not found.noise
    for c in found.clusters:
        assert len(set(truth[c.members])) == 1 and c.size == len(c.members) == 12
        assert c.medoid in c.members and c.distance > g.threshold_
    assert {truth[c.medoid] for c in found.clusters} == {"s3c4", "s3c5"}
    assert "2 cluster(s)" in found.message


def test_cluster_fields_match_brute_force(world):
    g, q, _ = world
    found = g.discover(q)
    for c in found.clusters:
        m = q[c.members].astype(np.float64)
        d = np.sqrt(((m[:, None] - m[None]) ** 2).sum(-1))  # (size, size) euclidean
        assert c.medoid == c.members[int(np.argmin(d.sum(1)))]
        assert c.spread == pytest.approx(d[c.members.index(c.medoid)].mean(), rel=1e-4)
        to_known = np.sqrt(((g.embeddings_ - q[c.medoid]) ** 2).sum(-1))
        assert c.distance == pytest.approx(to_known.min(), rel=1e-4)
        assert c.nearest_class == g.class_names_[g.labels_[int(np.argmin(to_known))]]
    out = found.to_dict()
    assert "embeddings" not in out and out["clusters"][0]["size"] == 12
    assert out["settings"]["link_distance"] == pytest.approx(g.threshold_)


def test_agglomerative_cut_is_average_linkage_at_the_threshold():
    # Points on a line. Cut at 1.05: 0-1 and 9-10 merge (distance 1); 2 joins {0, 1} only at
    # their mean distance 1.5.
    x = np.array([[0.0], [1.0], [2.0], [5.0], [9.0], [10.0]])
    d = np.abs(x - x.T)
    labels = cluster_distances(d, method="agglomerative", min_cluster_size=2, link_distance=1.05)
    assert labels.tolist() == [0, 0, -1, -1, 1, 1]
    # Cut at 1.55: {0, 1, 2} (the largest first); 5 is 4 from them on average.
    labels = cluster_distances(d, method="agglomerative", min_cluster_size=2, link_distance=1.55)
    assert labels.tolist() == [0, 0, 0, -1, 1, 1]
    labels = cluster_distances(d, method="agglomerative", min_cluster_size=3, link_distance=1.55)
    assert labels.tolist() == [0, 0, 0, -1, -1, -1]


def test_pairwise_distances_follow_the_gallery(make_mlp, vectors):
    for distance in ("euclidean", "squared_euclidean", "cosine"):
        model = make_mlp(distance)
        g = Gallery(model).fit(vectors[:5], list("abcde"))
        emb = g.embed(vectors[5:12])
        d = pairwise_distances(model, emb)
        e = torch.from_numpy(emb)
        brute = model.distance.pairwise(e[:, None].expand(-1, 7, -1), e[None].expand(7, -1, -1))
        np.testing.assert_allclose(d, brute.numpy() * (1 - np.eye(7)), atol=1e-5)
    head = make_mlp(head=True)
    g = Gallery(head).fit(vectors[:5], list("abcde"))
    emb = torch.from_numpy(g.embed(vectors[5:9]))
    d = pairwise_distances(head, emb.numpy())
    p = head.similarity(emb[:1].expand(4, -1), emb).detach().numpy()
    np.testing.assert_allclose(d[0, 1:], 1 - p[1:], atol=1e-5)


def test_all_known_is_a_clear_answer(world):
    g, q, truth = world
    found = g.discover(q[~np.isin(truth, ["s3c4", "s3c5"])])
    assert found.clusters == [] and found.unknown == []
    assert (
        "queries are of known classes" in found.message and "nothing to discover" in found.message
    )


def test_bad_input(world, make_identity, vectors):
    g, q, _ = world
    with pytest.raises(DataError, match="discover: no queries"):
        g.discover_embeddings(np.zeros((0, q.shape[1]), np.float32))
    plain = Gallery(make_identity(8)).fit(vectors[:6], list("aabbcc"))
    with pytest.raises(ConfigError, match="no calibrated 'unknown' threshold.*--far"):
        plain.discover(vectors[6:])
    with pytest.raises(ConfigError, match="discover method: unknown 'kmeans'; valid:"):
        g.discover(q, method="kmeans")
    with pytest.raises(ConfigError, match="min_cluster_size: expected at least 2"):
        g.discover(q, min_cluster_size=1)
    with pytest.raises(DataError, match="expected a batch of shape"):
        g.discover(q[:, :3])


def test_enroll_clusters_checks_names_then_enrolls(world, tmp_path):
    g, q, truth = world
    g.save(tmp_path / "g")
    found = g.discover(q)
    for names, needle in [
        ({0: "s3c0"}, "class 's3c0' is already enrolled; choose a new name"),
        ({0: "Unknown"}, "'Unknown' is reserved"),
        ({0: "a", 1: "a"}, "the name 'a' is given to two clusters"),
        ({7: "a"}, r"enroll cluster 7: no such cluster \(clusters: 0 to 1\)"),
        ({0: " "}, "expected a non-empty class name"),
        ({}, "expected at least one CLUSTER=NAME"),
    ]:
        with pytest.raises(DataError, match=needle):
            g.enroll_clusters(found, names)
    assert g.num_classes == 3  # nothing was enrolled
    g.enroll_clusters(found, {0: "new_a", 1: "new_b"})
    again = Gallery.load(tmp_path / "g", model=g.model)  # committed to the store
    assert again.num_classes == 5 and len(again) == 18 + 24
    answers = again.predict(q[found.clusters[0].members])
    assert set(answers) == {"new_a"}
    assert again.discover(q).clusters == []  # nothing left to discover
