"""`siamese serve GALLERY --model EXPORT`: the service embeds with an int8 / fp16 ONNX export
through ONNX Runtime (torch's forward is never called), answers as the torch-served gallery does,
and refuses an export of other weights in one line."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from siamese.compress.onnx_model import serving_model
from siamese.encoders import create_encoder
from siamese.export import export_model
from siamese.gallery import Gallery
from siamese.model import SiameseModel
from siamese.service import create_app
from tests.cli.test_cli_errors import _run as _cli

ARGS = {"input_shape": [1, 16, 16], "channels": 8, "embedding_dim": 16}


def _gallery(directory, seed=0):
    torch.manual_seed(seed)
    model = SiameseModel(
        create_encoder("conv4", **ARGS),
        encoder_name="conv4",
        encoder_args=ARGS,
        info={"kind": "image", "item_shape": [1, 16, 16], "item_dtype": "uint8"},
    )
    x = np.random.default_rng(0).integers(0, 256, (6, 1, 16, 16), dtype=np.uint8)
    Gallery(model, threshold=1e6).fit(x, ["a", "a", "b", "b", "c", "c"]).save(directory)
    return directory


def _png(seed: int) -> dict[str, str]:
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return {"image_base64": base64.b64encode(buf.getvalue()).decode()}


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_service_embeds_with_the_export(tmp_path, monkeypatch, precision):
    g = _gallery(tmp_path / "g")
    export = export_model(g / "model", "onnx", precision=precision, int8_mode="dynamic")["path"]
    queries = {"items": [_png(s) for s in range(1, 5)], "k": 3}
    torch_answers = TestClient(create_app(g)).post("/identify", json=queries).json()["results"]

    def no_torch(*a, **k):
        raise AssertionError("the torch model embedded")

    monkeypatch.setattr(SiameseModel, "embed", no_torch)
    client = TestClient(create_app(g, model=serving_model(export, g)))
    answers = client.post("/identify", json=queries).json()["results"]
    for got, want in zip(answers, torch_answers, strict=True):
        assert [m["label"] for m in got["matches"]] == [m["label"] for m in want["matches"]]
        d_got = [m["distance"] for m in got["matches"]]
        rtol = {"fp16": 0.01, "int8": 0.25}[precision]  # untrained weights on raw pixels
        np.testing.assert_allclose(d_got, [m["distance"] for m in want["matches"]], rtol=rtol)
    r = client.post("/enroll", json={"items": [_png(9)], "labels": ["new"]}).json()
    assert r["added"] == 1 and r["classes"] == 4
    hit = client.post("/identify", json={"items": [_png(9)], "k": 1}).json()["results"][0]
    assert hit["label"] == "new"
    assert client.post("/verify", json={"a": _png(1), "b": _png(1)}).json()["same"] is True
    monkeypatch.undo()
    assert Gallery.load(g).num_classes == 4  # the enrolment is saved; the torch model kept


def test_serve_cli_takes_an_export_and_refuses_other_weights(tmp_path, monkeypatch, capsys):
    import uvicorn

    g = _gallery(tmp_path / "g")
    export = export_model(g / "model", "onnx", precision="int8", int8_mode="dynamic")["path"]
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    code, out, err = _cli(capsys, "serve", str(g), "--model", export, "--port", "8124")
    assert code == 0, err
    assert "int8, ONNX Runtime" in out and seen["port"] == 8124
    other = _gallery(tmp_path / "other", seed=1)  # the same architecture, other weights
    code, out, err = _cli(capsys, "serve", str(other), "--model", export, "--port", "8124")
    assert code == 2 and "exported from other weights than the model of" in err
    assert "Traceback" not in out + err
    code, _, err = _cli(capsys, "serve", str(g), "--model", str(tmp_path / "nope.onnx"))
    assert code == 2 and "nope.onnx: missing; pass an .onnx file written by" in err
