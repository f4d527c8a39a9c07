"""The /identify micro-batcher: batched answers equal unbatched ones, a bad request fails alone,
the worker thread ends with the app, and bad settings are one clear line."""

from __future__ import annotations

import asyncio
import base64
import io
import threading

import numpy as np
import pytest
from cli_run import run_cli
from fastapi import HTTPException
from fastapi.testclient import TestClient
from PIL import Image

from siamese.errors import ConfigError, DataError
from siamese.gallery import Gallery
from siamese.service import create_app
from siamese.service.app import _identified

THREAD = "siamese-identify-batcher"


def b64(seed: int) -> dict[str, str]:
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 20), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return {"image_base64": base64.b64encode(buf.getvalue()).decode()}


@pytest.fixture(scope="module")
def gallery_dir(tmp_path_factory, make_image_gallery):
    labels = ["a", "a", "b", "b", "c", "c", "d", "e"]
    return make_image_gallery(tmp_path_factory.mktemp("batch") / "g", labels)


# 8 requests, 11 items, three values of k: one batch when max_items is 11
BODIES = [{"items": [b64(10 + i)], "k": 1 + i % 3} for i in range(7)]
BODIES.append({"items": [b64(30), b64(31), b64(32), b64(33)], "k": 4})


def concurrently(client: TestClient, bodies: list[dict]) -> list:
    """POST every body to /identify at once (one thread each); the responses in order."""
    out: list = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def send(i: int) -> None:
        start.wait()
        out[i] = client.post("/identify", json=bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _same_answers(batched: dict, alone: dict) -> None:
    assert batched["threshold"] == alone["threshold"]
    assert len(batched["results"]) == len(alone["results"])
    for b, a in zip(batched["results"], alone["results"], strict=True):
        assert (b["label"], b["known"]) == (a["label"], a["known"])
        assert [m["label"] for m in b["matches"]] == [m["label"] for m in a["matches"]]
        got = [m["distance"] for m in b["matches"]]
        # the forward pass of 11 items and of 1 may round the last bits differently
        assert got == pytest.approx([m["distance"] for m in a["matches"]], rel=1e-5, abs=1e-6)


def test_batched_answers_equal_unbatched(gallery_dir):
    batched = create_app(gallery_dir, batch_max_items=11, batch_max_wait_ms=1000)
    alone = create_app(gallery_dir, batch=False)
    with TestClient(batched) as cb, TestClient(alone) as ca:
        responses = concurrently(cb, BODIES)
        expected = [ca.post("/identify", json=b) for b in BODIES]
    stats = batched.state.batcher.stats
    assert (stats.batches, stats.requests, stats.largest) == (1, 8, 11)  # one forward pass
    assert alone.state.batcher is None
    for r, e, body in zip(responses, expected, BODIES, strict=True):
        assert r.status_code == e.status_code == 200
        assert all(len(x["matches"]) == body["k"] for x in r.json()["results"])
        _same_answers(r.json(), e.json())


def test_a_bad_request_fails_alone(gallery_dir):
    """A body that cannot be decoded gets its 422 while the other requests of its batch are
    answered; so does an item the batched forward pass cannot embed (the batch is rerun one
    request at a time)."""
    g = Gallery.load(gallery_dir)
    real_embed = g.embed

    def embed(items, lengths=None):  # a model that refuses all-white images
        if (items.reshape(len(items), -1) == 255).all(axis=1).any():
            raise DataError("items: the model cannot embed an all-white image")
        return real_embed(items, lengths)

    g.embed = embed
    white = base64.b64encode(_png(np.full((16, 16), 255, np.uint8))).decode()
    bodies = [dict(b) for b in BODIES]
    bodies[2] = {"items": [{"values": [1, 2, 3]}]}  # wrong shape: refused while decoding
    bodies[5] = {"items": [b64(50), {"image_base64": white}]}  # refused by the forward pass
    bodies[7] = {"items": [b64(51)], "k": 2}
    app = create_app(g, batch_max_items=8, batch_max_wait_ms=1000)  # 8 requests: one batch
    with TestClient(app) as client, TestClient(create_app(g, batch=False)) as alone:
        responses = concurrently(client, bodies)
        expected = {i: alone.post("/identify", json=bodies[i]) for i in (0, 1, 3, 4, 6, 7)}
    assert responses[2].status_code == 422
    assert "expected an image item of shape (1, 16, 16)" in responses[2].json()["detail"]
    assert responses[5].status_code == 422
    assert responses[5].json()["detail"] == "items: the model cannot embed an all-white image"
    for i, e in expected.items():
        assert responses[i].status_code == 200, responses[i].text
        _same_answers(responses[i].json(), e.json())
    stats = app.state.batcher.stats
    assert (stats.batches, stats.requests, stats.reruns) == (1, 7, 7)  # then one by one


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_the_batcher_thread_ends_with_the_app(gallery_dir):
    app = create_app(gallery_dir)
    batcher = app.state.batcher
    with TestClient(app) as client:
        assert client.post("/identify", json=BODIES[0]).status_code == 200
        worker = batcher._thread
        assert batcher.running and worker in threading.enumerate() and worker.name == THREAD
    assert not batcher.running and worker not in threading.enumerate()

    async def late() -> None:
        await batcher.submit(lambda: (np.zeros((1, 1, 16, 16), np.uint8), None, 1))

    with pytest.raises(HTTPException) as stopped:  # 503, never a hang
        asyncio.run(late())
    assert stopped.value.status_code == 503


def test_the_answer_body_is_to_dict(gallery_dir):
    g = Gallery.load(gallery_dir)
    found = g.identify(np.zeros((2, 1, 16, 16), np.uint8), k=3)
    assert _identified(found, 0.5) == {"results": [r.to_dict() for r in found], "threshold": 0.5}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_max_items": 0}, r"batch_max_items 0: expected an integer in \[1, 4096\]"),
        ({"batch_max_items": 5000}, r"batch_max_items 5000: expected an integer in \[1, 4096\]"),
        ({"batch_max_items": 2.5}, r"batch_max_items 2.5: expected an integer"),
        ({"batch_max_wait_ms": -1}, r"batch_max_wait_ms -1: expected a number in \[0, 1000\]"),
        ({"batch_max_wait_ms": float("nan")}, r"batch_max_wait_ms nan: expected a number in"),
        ({"batch_max_wait_ms": "2"}, r"batch_max_wait_ms '2': expected a number of millisec"),
    ],
)
def test_bad_batch_settings_are_refused(gallery_dir, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        create_app(gallery_dir, **kwargs)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--batch-max-items", "0"], "--batch-max-items 0: expected an integer in [1, 4096]"),
        (["--batch-max-items", "4097"], "--batch-max-items 4097: expected an integer in [1, 4096]"),
        (["--batch-max-wait-ms", "-1"], "--batch-max-wait-ms -1.0: expected a finite number in"),
        (["--batch-max-wait-ms", "1001"], "--batch-max-wait-ms 1001.0: expected a finite number"),
        (["--batch-max-wait-ms", "nan"], "--batch-max-wait-ms nan: expected a finite number in"),
    ],
)
def test_serve_refuses_bad_batch_options(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "serve", "g", *args)
    assert code == 2 and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
