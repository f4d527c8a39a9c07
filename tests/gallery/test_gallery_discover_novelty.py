"""Discovery's own choices: "unknown" by the enrolled classes' own spread (novelty, no calibration
needed), the agglomerative cut from the classes' width, HDBSCAN's min_samples; the spread checked
against brute force; every bad setting one clear error."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import HDBSCAN

from siamese.errors import ConfigError
from siamese.gallery import Gallery
from siamese.gallery._spread import class_spread
from siamese.gallery.discover import cluster_distances


def _blob(centre: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return (centre + 0.2 * rng.normal(size=(n, len(centre)))).astype(np.float32)


@pytest.fixture
def near_world(make_identity):
    """3 enrolled classes (20 examples each, spread 0.2 per axis) at 10 x e0-e2; queries: 10 of
    each known class and 12 of each of two new classes 3 away from classes 0 and 1 (at
    10 e0 + 3 e4, 10 e1 + 3 e5). Calibrated leave-own-class-out, the threshold (~14, the
    distance between known classes) lets the new classes through as known."""
    rng = np.random.default_rng(5)
    eye = 10.0 * np.eye(6)
    names = [f"nw{c}" for c in range(3) for _ in range(20)]
    g = Gallery(make_identity(6)).fit(
        np.concatenate([_blob(eye[c], 20, rng) for c in range(3)]), names
    )
    calib = np.concatenate([_blob(eye[c], 10, rng) for c in range(3)])
    g.calibrate(calib, [f"nw{c}" for c in range(3) for _ in range(10)], far=0.01)
    new = [eye[0] + 0.3 * eye[4], eye[1] + 0.3 * eye[5]]
    q = np.concatenate(
        [_blob(eye[c], 10, rng) for c in range(3)] + [_blob(m, 12, rng) for m in new]
    )
    truth = np.array(
        [f"nw{c}" for c in range(3) for _ in range(10)] + ["new_a"] * 12 + ["new_b"] * 12
    )
    return g, q, truth


def test_spread_matches_brute_force(make_identity):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(13, 4)).astype(np.float32)
    labels = np.array([0] * 5 + [1] * 7 + [2])  # class 2 has one example
    s = class_spread(make_identity(4).eval(), emb, labels, 3)
    for c, n in ((0, 5), (1, 7)):
        e = emb[labels == c].astype(np.float64)
        d = np.sqrt(((e[:, None] - e[None]) ** 2).sum(-1))
        np.testing.assert_allclose(s.mean[c], d[~np.eye(n, dtype=bool)].mean(), rtol=1e-5)
        np.fill_diagonal(d, np.inf)
        np.testing.assert_allclose(s.nearest[c], d.min(1), rtol=1e-5)
    assert len(s.nearest[2]) == 0 and np.isnan(s.mean[2])
    limits = s.novelty_thresholds(0.2)
    assert limits[0] == pytest.approx(np.quantile(s.nearest[0], 0.8))
    assert limits[2] == pytest.approx(np.quantile(np.concatenate(s.nearest[:2]), 0.8))  # pooled
    assert s.width() == pytest.approx(np.median(s.mean[:2]))


def test_novelty_finds_what_the_threshold_lets_through(near_world):
    g, q, truth = near_world
    new = np.isin(truth, ["new_a", "new_b"])
    assert g.discover(q).unknown == []  # by the calibrated threshold every query is known
    found = g.discover(q, unknown="novelty", novelty_rate=0.05, link="spread", link_scale=1.5)
    assert set(np.flatnonzero(new)) <= set(found.unknown)  # every new-class query is unknown
    assert len(found.unknown) - new.sum() <= 3  # a few known strays at most
    assert sorted(set(truth[c.members]) for c in found.clusters) == [{"new_a"}, {"new_b"}]
    assert sorted(c.size for c in found.clusters) == [12, 12]
    assert found.settings["unknown"] == "novelty" and found.settings["novelty_rate"] == 0.05
    width = class_spread(g.model, g.embeddings_, g.labels_, 3).width()
    assert found.settings["link_distance"] == pytest.approx(1.5 * width)
    assert "beyond the novelty threshold of their nearest class" in found.message


def test_novelty_needs_no_calibration(near_world, make_identity):
    g, q, truth = near_world
    plain = Gallery(make_identity(6)).fit(g.embeddings_, [g.class_names_[c] for c in g.labels_])
    kw = {"unknown": "novelty", "novelty_rate": 0.05, "link": "spread", "link_scale": 1.5}
    found = plain.discover(q, **kw)
    assert found.settings["threshold"] is None
    assert [c.members for c in found.clusters] == [c.members for c in g.discover(q, **kw).clusters]
    hd = plain.discover(q, unknown="novelty", novelty_rate=0.05, method="hdbscan")  # no cut
    assert len(hd.clusters) == 2  # each all of one new class, with at most 2 known strays
    for c, name in zip(
        sorted(hd.clusters, key=lambda c: truth[c.medoid]), ["new_a", "new_b"], strict=True
    ):
        assert (truth[c.members] == name).sum() == 12 and c.size <= 14
    with pytest.raises(
        ConfigError, match="no calibrated 'unknown' threshold, which link='threshold'"
    ):
        plain.discover(q, unknown="novelty")
    with pytest.raises(ConfigError, match="which unknown and link='threshold' use"):
        plain.discover(q)


def test_hdbscan_min_samples_is_sklearns():
    rng = np.random.default_rng(2)
    x = np.concatenate(
        [rng.normal(size=(15, 2)), rng.normal(size=(15, 2)) + 6, rng.uniform(-3, 9, (6, 2))]
    )
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    for ms in (1, 4):
        ours = cluster_distances(d, method="hdbscan", min_cluster_size=5, min_samples=ms)
        theirs = HDBSCAN(min_cluster_size=5, min_samples=ms, metric="precomputed", copy=True)
        theirs = theirs.fit_predict(d)
        assert ((ours < 0) == (theirs < 0)).all()  # the same noise, the same partition
        assert len(set(zip(ours[ours >= 0], theirs[theirs >= 0], strict=True))) == ours.max() + 1


def test_bad_settings(near_world, make_identity):
    g, q, _ = near_world
    for kw, needle in [
        ({"unknown": "far"}, "unknown: unknown 'far'; valid: threshold, novelty"),
        ({"link": "mean"}, "link: unknown 'mean'; valid: threshold, spread"),
        ({"novelty_rate": 0.0}, r"novelty_rate: expected a share of enrolled examples in \(0, 1\)"),
        ({"novelty_rate": 1.0}, "novelty_rate: expected"),
        ({"min_samples": 0}, "min_samples: expected at least 1"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            g.discover(q, **kw)
    ones = Gallery(make_identity(6)).fit(g.embeddings_[:3], ["a", "b", "c"])  # one example each
    ones.calibrate(q[:6], ["a"] * 6, far=0.1)
    with pytest.raises(ConfigError, match="unknown='novelty' needs a class with at least 2"):
        ones.discover(q, unknown="novelty")
    with pytest.raises(ConfigError, match="link='spread' needs a class with at least 2"):
        ones.discover(q, link="spread")


def test_service_takes_the_new_settings(near_world):
    from fastapi.testclient import TestClient

    from siamese.service import create_app

    g, q, _ = near_world
    g.model.info = {"kind": "vector", "item_shape": [6]}
    body = {"items": [{"values": v.tolist()} for v in q], "unknown": "novelty",
            "novelty_rate": 0.05, "link": "spread", "link_scale": 1.5}  # fmt: skip
    client = TestClient(create_app(g))
    r = client.post("/discover", json=body)
    assert r.status_code == 200, r.text
    want = g.discover(q, unknown="novelty", novelty_rate=0.05, link="spread", link_scale=1.5)
    assert [c["members"] for c in r.json()["clusters"]] == [c.members for c in want.clusters]
    assert r.json()["settings"]["unknown"] == "novelty"
    for bad, key in (({"novelty_rate": 1.5}, "novelty_rate"), ({"link": "x"}, "link"),
                     ({"unknown": "x"}, "unknown"), ({"min_samples": 0}, "min_samples")):  # fmt: skip
        r = client.post("/discover", json={**body, **bad})
        assert r.status_code == 422 and key in r.json()["detail"]


def test_cli_takes_the_new_settings(make_mlp, tmp_path, capsys):
    import json

    from cli_run import run_cli

    rng = np.random.default_rng(4)
    centres = 4.0 * rng.normal(size=(5, 8))
    draw = lambda c, n: (centres[c] + 0.05 * rng.normal(size=(n, 8))).astype(np.float32)  # noqa: E731
    g = Gallery(make_mlp()).fit(
        np.concatenate([draw(c, 8) for c in range(3)]), list("a" * 8 + "b" * 8 + "c" * 8)
    )
    g.save(tmp_path / "g")  # not calibrated: novelty and spread need no threshold
    q = np.concatenate([draw(0, 4), draw(3, 6), draw(4, 5)])
    np.save(tmp_path / "q.npy", q)
    kw = {"unknown": "novelty", "novelty_rate": 0.05, "link": "spread", "link_scale": 2.0}
    want = g.discover(q, **kw)
    assert len(want.clusters) >= 2
    args = ["discover", str(tmp_path / "g"), str(tmp_path / "q.npy"), "--unknown", "novelty",
            "--novelty-rate", "0.05", "--link", "spread", "--link-scale", "2"]  # fmt: skip
    code, out, err = run_cli(capsys, *args, "--json")
    assert code == 0, err
    got = json.loads(out)
    assert [[m["index"] for m in c["members"]] for c in got["clusters"]] == [
        c.members for c in want.clusters
    ]
    code, out, err = run_cli(capsys, *args)
    assert code == 0 and "novelty rate 0.05" in out
    for bad, needle in (
        (["--novelty-rate", "0"], "--novelty-rate 0.0: expected"),
        (["--min-samples", "0"], "--min-samples 0: expected"),
        (["--link", "mean"], "link: unknown 'mean'; valid: threshold, spread"),
        (["--unknown", "far"], "unknown: unknown 'far'; valid: threshold, novelty"),
        (["--unknown", "threshold"], "no calibrated 'unknown' threshold"),
    ):
        code, out, err = run_cli(capsys, *args, *bad)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
