"""POST /discover: JSON and multipart, the clear answer when all are known, bad input as 4xx."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from torch import nn

from siamese.gallery import Gallery
from siamese.model import SiameseModel
from siamese.service import create_app

RNG = np.random.default_rng(7)
CENTRES = 10.0 * np.eye(4)


def draw(c: int, n: int, scale: float = 1.0) -> np.ndarray:
    return (scale * CENTRES[c] + 0.1 * RNG.normal(size=(n, 4))).astype(np.float32)


def vector_gallery(calibrated: bool = True) -> Gallery:
    """Classes at 10 x e0 and 10 x e1, calibrated on a class that is not enrolled (5 x e2)."""
    model = SiameseModel(nn.Identity(), info={"kind": "vector", "item_shape": [4]})
    g = Gallery(model).fit(np.concatenate([draw(0, 3), draw(1, 3)]), list("aaabbb"))
    if calibrated:
        g.calibrate(draw(2, 10, 0.5), ["other"] * 10, far=0.0)
    return g


@pytest.fixture
def client():
    return TestClient(create_app(vector_gallery()))


def test_discover_json(client):
    items = np.concatenate([draw(0, 2), draw(3, 4)])  # 2 known, 4 of a new class (10 x e3)
    r = client.post("/discover", json={"items": [{"values": v.tolist()} for v in items]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["known"] == 2 and body["unknown"] == [2, 3, 4, 5]
    [c] = body["clusters"]
    assert c["members"] == [2, 3, 4, 5] and c["medoid"] in c["members"]
    assert c["nearest_class"] in ("a", "b") and c["distance"] > body["settings"]["threshold"]
    r = client.post("/discover", json={"items": [{"values": v.tolist()} for v in items[:2]]})
    assert r.json()["clusters"] == [] and "nothing to discover" in r.json()["message"]


def test_discover_multipart(client):
    files = []
    for i, v in enumerate(np.concatenate([draw(3, 3), draw(3, 3, -1.0)])):  # two new classes
        buf = io.BytesIO()
        np.save(buf, v)
        files.append(("files", (f"q{i}.npy", buf.getvalue())))
    r = client.post("/discover", files=files, data={"method": "hdbscan", "min_cluster_size": "3"})
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "hdbscan" and [c["members"] for c in r.json()["clusters"]] == [
        [0, 1, 2],
        [3, 4, 5],
    ]


def test_discover_bad_input():
    client = TestClient(create_app(vector_gallery()))
    one = [{"values": draw(3, 1)[0].tolist()}]
    r = client.post("/discover", json={"items": one, "min_cluster_size": 1})
    assert r.status_code == 422 and "min_cluster_size" in r.json()["detail"]
    r = client.post("/discover", json={"items": one, "method": "kmeans"})
    assert r.status_code == 422 and "method" in r.json()["detail"]
    r = client.post("/discover", json={"items": []})
    assert r.status_code == 422 and "items" in r.json()["detail"]
    r = client.post("/discover", files=[("files", ("q.npy", b"x"))], data={"link_scale": "0"})
    assert r.status_code == 422 and "link_scale" in r.json()["detail"]
    plain = TestClient(create_app(vector_gallery(calibrated=False)))
    r = plain.post("/discover", json={"items": one})
    assert r.status_code == 422 and "no calibrated 'unknown' threshold" in r.json()["detail"]
    assert "/discover" in client.get("/openapi.json").json()["paths"]
