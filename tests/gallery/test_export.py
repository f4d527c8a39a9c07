"""Exported encoders (ONNX via onnxruntime, TorchScript via torch.jit.load) embed as the library."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamese.data.normaliser import Normaliser
from siamese.encoders import create_encoder
from siamese.errors import ConfigError, ModelFileError
from siamese.export import export_model
from siamese.model import SiameseModel

LSTM_ARGS = {"input_shape": [12, 3], "hidden_size": 8, "embedding_dim": 3}


def lstm_model() -> SiameseModel:
    torch.manual_seed(1)
    return SiameseModel(
        create_encoder("lstm", **LSTM_ARGS),
        Normaliser("feature", [0.5, -1.0, 2.0], [2.0, 1.0, 0.5]),
        encoder_name="lstm",
        encoder_args=LSTM_ARGS,
        info={"kind": "sequence", "item_shape": [12, 3]},
    )


def run_onnx(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"items": x})[0]


@pytest.mark.parametrize("which", ["mlp", "lstm"])
def test_onnx_matches_library_embeddings(saved_model, tmp_path, which):
    folder = saved_model
    if which == "lstm":
        folder = tmp_path / "lstm"
        lstm_model().save(folder)
    report = export_model(folder, "onnx")
    assert report["path"] == str(folder / "model.onnx") and report["max_abs_diff"] <= 1e-4
    model = SiameseModel.load(folder)
    x = np.random.default_rng(3).normal(size=(7, *model.info["item_shape"])).astype(np.float32)
    np.testing.assert_allclose(
        run_onnx(folder / "model.onnx", x), model.embed(x).numpy(), atol=1e-4
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_matches_library_embeddings(saved_model, tmp_path):
    report = export_model(saved_model, "torchscript", tmp_path / "enc.pt")
    assert report["format"] == "torchscript" and report["input_shape"] == ["batch", 8]
    module = torch.jit.load(str(tmp_path / "enc.pt"))
    x = np.random.default_rng(4).normal(size=(3, 8)).astype(np.float32)
    want = SiameseModel.load(saved_model).embed(x)
    torch.testing.assert_close(module(torch.from_numpy(x)), want, atol=1e-4, rtol=0)


def test_export_errors(saved_model, tmp_path, mlp_model):
    with pytest.raises(
        ConfigError, match="format: expected one of onnx, torchscript, got 'tflite'"
    ):
        export_model(saved_model, "tflite")
    with pytest.raises(ConfigError, match="out: expected a file path"):
        export_model(mlp_model, "onnx")
    with pytest.raises(ModelFileError, match="no model.json"):
        export_model(tmp_path / "empty", "onnx")
    (saved_model / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(ModelFileError, match="corrupt weights file"):
        export_model(saved_model, "onnx")
