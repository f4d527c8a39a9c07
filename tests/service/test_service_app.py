"""The HTTP service: every endpoint, API key, size limit, malformed input, atomic enroll."""

from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from siamese.gallery import Gallery
from siamese.service import create_app

KEY = {"X-API-Key": "s3cret"}


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 20), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def b64(seed: int) -> dict[str, str]:
    return {"image_base64": base64.b64encode(png(seed)).decode()}


@pytest.fixture
def gallery_dir(tmp_path, make_image_gallery):
    return make_image_gallery(tmp_path / "g", ["a", "a", "b", "b", "c", "c"])


@pytest.fixture
def client(gallery_dir):
    app = create_app(gallery_dir, api_key="s3cret", max_request_bytes=50_000)
    with TestClient(app) as client:  # started and shut down as uvicorn does
        yield client


def test_health_and_openapi(client):
    h = client.get("/health").json()  # no key needed
    assert h == {
        "status": "ok",
        "classes": 3,
        "examples": 6,
        "kind": "image",
        "item_shape": [1, 16, 16],
        "threshold": 1e6,
        "index": "exact",
    }
    schema = client.get("/openapi.json").json()
    assert {"/identify", "/verify", "/enroll", "/health"} <= set(schema["paths"])
    body = schema["paths"]["/identify"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["$ref"] == "#/components/schemas/IdentifyRequest"
    assert "multipart/form-data" in body and "ItemIn" in schema["components"]["schemas"]


def test_identify_json_and_multipart(client):
    r = client.post("/identify", json={"items": [b64(1), b64(2)], "k": 2}, headers=KEY)
    assert r.status_code == 200
    res = r.json()["results"]
    assert len(res) == 2 and all(len(x["matches"]) == 2 and x["known"] for x in res)
    r = client.post(
        "/identify", files=[("files", ("q.png", png(1), "image/png"))], data={"k": "3"}, headers=KEY
    )
    single = r.json()["results"][0]["matches"]  # the same image, uploaded: same answer
    assert r.status_code == 200 and len(single) == 3
    assert [m["label"] for m in single[:2]] == [m["label"] for m in res[0]["matches"]]
    assert single[0]["distance"] == pytest.approx(res[0]["matches"][0]["distance"], rel=1e-4)
    values = np.zeros((1, 16, 16)).tolist()
    assert (
        client.post("/identify", json={"items": [{"values": values}]}, headers=KEY).status_code
        == 200
    )


def test_verify_json_and_multipart(client):
    r = client.post("/verify", json={"a": b64(1), "b": b64(1)}, headers=KEY).json()
    assert r["same"] is True and r["distance"] == pytest.approx(0.0, abs=1e-3)
    files = [("a", ("a.png", png(1), "image/png")), ("b", ("b.png", png(2), "image/png"))]
    r = client.post("/verify", files=files, headers=KEY).json()
    assert r["distance"] > 0 and r["score"] == pytest.approx(-r["distance"])


def test_enroll_adds_and_saves(client, gallery_dir):
    r = client.post(
        "/enroll", json={"items": [b64(5), b64(6)], "labels": ["new", "c"]}, headers=KEY
    )
    assert r.status_code == 200
    assert r.json() == {"added": 2, "new_classes": ["new"], "classes": 4, "examples": 8}
    assert Gallery.load(gallery_dir).num_classes == 4  # saved to the attached folder
    files = [("files", ("x.png", png(7), "image/png"))]
    r = client.post("/enroll", files=files, data={"labels": "up"}, headers=KEY)
    assert r.status_code == 200 and r.json()["examples"] == 9
    hit = client.post("/identify", json={"items": [b64(5)], "k": 1}, headers=KEY).json()
    assert hit["results"][0]["label"] == "new"


def test_api_key_is_required(client):
    body = {"items": [b64(1)]}
    for headers in ({}, {"X-API-Key": "wrong"}):
        r = client.post("/identify", json=body, headers=headers)
        assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
    assert client.post("/identify", json=body, headers=KEY).status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "status", "match"),
    [
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "malformed JSON",
        ),
        (
            {"content": b"x", "headers": {"content-type": "text/plain"}},
            415,
            "expected application/json",
        ),
        ({"json": {"items": []}}, 422, "items"),
        (
            {"json": {"items": [{"values": [1, 2, 3]}]}},
            422,
            r"expected an image item of shape \(1, 16, 16\), got shape \(3,\)",
        ),
        ({"json": {"items": [{"image_base64": "@@@"}]}}, 422, "not valid base64"),
        ({"json": {"items": [{"image_base64": "aGVsbG8="}]}}, 422, "not a readable image"),
        ({"json": {"items": [{"values": [1], "image_base64": "aGVsbG8="}]}}, 422, "exactly one of"),
        ({"json": {"items": [b64(1)], "k": 0}}, 422, "k"),
        ({"json": {"items": [b64(1)], "extra": 1}}, 422, "extra"),
        ({"json": {"items": [b64(1)] * 300}}, 413, "over 50000 bytes"),
        ({"files": [("other", ("a.png", b"x", "image/png"))]}, 422, "field 'files'"),
    ],
)
def test_bad_requests_get_4xx_and_service_keeps_serving(client, kwargs, status, match):
    import re

    headers = {**KEY, **kwargs.pop("headers", {})}
    r = client.post("/identify", headers=headers, **kwargs)
    assert r.status_code == status and re.search(match, r.json()["detail"])
    assert client.post("/identify", json={"items": [b64(1)]}, headers=KEY).status_code == 200


def test_chunked_oversize_body_is_refused(client):
    chunks = (b"x" * 10_000 for _ in range(10))  # no Content-Length: counted as it arrives
    r = client.post(
        "/identify", content=chunks, headers={**KEY, "content-type": "application/json"}
    )
    assert r.status_code == 413 and client.get("/health").status_code == 200


def test_enroll_is_atomic(client):
    bad_batch = {"items": [b64(8), {"values": [1, 2]}], "labels": ["p", "q"]}
    r = client.post("/enroll", json=bad_batch, headers=KEY)
    assert r.status_code == 422 and "items[1].values" in r.json()["detail"]
    r = client.post("/enroll", json={"items": [b64(8), b64(9)], "labels": ["p"]}, headers=KEY)
    assert r.status_code == 422 and "one non-empty label per item" in r.json()["detail"]
    assert client.get("/health").json()["examples"] == 6


def test_concurrent_enroll_and_identify(client):
    errors: list[int] = []

    def worker(w: int) -> None:
        for i in range(4):
            r = client.post(
                "/enroll", json={"items": [b64(100 + w * 10 + i)], "labels": [f"w{w}"]}, headers=KEY
            )
            q = client.post("/identify", json={"items": [b64(1)]}, headers=KEY)
            errors.extend(s for s in (r.status_code, q.status_code) if s != 200)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert client.get("/health").json()["examples"] == 6 + 16


def test_an_old_layout_gallery_is_migrated_and_enrolments_are_stored(gallery_dir, tmp_path):
    from siamese.gallery._files_v1 import save_v1

    old = tmp_path / "old"
    g = Gallery.load(gallery_dir)
    save_v1(old, g.snapshot(), g.index_, g.model)
    client = TestClient(create_app(old, api_key="s3cret"))
    assert (old / "gallery.db").is_file() and not (old / "embeddings.npy").exists()
    r = client.post("/enroll", json={"items": [b64(5)], "labels": ["new"]}, headers=KEY)
    assert r.status_code == 200
    assert Gallery.load(old).class_names_ == ["a", "b", "c", "new"]
