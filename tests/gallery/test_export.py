"""Exported encoders (ONNX via onnxruntime, TorchScript via torch.jit.load) embed as the library."""

from __future__ import annotations

import json

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


def run_onnx(path, **inputs: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)[0]


@pytest.mark.parametrize("which", ["mlp", "lstm"])
def test_onnx_matches_library_embeddings(saved_model, tmp_path, which):
    folder = saved_model
    if which == "lstm":
        folder = tmp_path / "lstm"
        lstm_model().save(folder)
    report = export_model(folder, "onnx")
    assert report["path"] == str(folder / "model.onnx") and report["max_abs_diff"] <= 1e-4
    assert report["checked_on"].startswith("random items (no run config.json")
    model = SiameseModel.load(folder)
    x = np.random.default_rng(3).normal(size=(7, *model.info["item_shape"])).astype(np.float32)
    if which == "lstm":  # the graph takes the true lengths of padded series
        lengths = np.array([12, 3, 7, 12, 5, 9, 2])
        got = run_onnx(folder / "model.onnx", items=x, lengths=lengths)
        want = model.embed(x, lengths).numpy()
    else:
        got, want = run_onnx(folder / "model.onnx", items=x), model.embed(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


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


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_pair_head_is_exported_beside_the_embedding(tmp_path, make_mlp, format):
    folder = tmp_path / "koch"
    make_mlp(head=True).save(folder)
    report = export_model(folder, format)
    suffix = ".onnx" if format == "onnx" else ".pt"
    assert report["head_path"] == str(folder / f"model.head{suffix}")
    assert report["head_max_abs_diff"] <= 1e-4
    model = SiameseModel.load(folder)
    e = model.embed(np.random.default_rng(5).normal(size=(6, 8)).astype(np.float32)).numpy()
    want = model.similarity(e, e[::-1].copy()).numpy()
    if format == "onnx":
        got = run_onnx(folder / "model.head.onnx", e1=e, e2=e[::-1].copy())
    else:
        head = torch.jit.load(report["head_path"])
        with torch.no_grad():
            got = head(torch.from_numpy(e), torch.from_numpy(e[::-1].copy())).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


class _SpectrumProbe(torch.nn.Module):
    """An encoder on ``torch.fft.rfft``, which the ONNX (TorchScript-based) exporter lacks."""

    def __init__(self, input_shape):
        super().__init__()
        self.linear = torch.nn.Linear(input_shape[0] // 2 + 1, 3)
        self.embedding_dim = 3

    def forward(self, x):
        return self.linear(torch.fft.rfft(x, dim=1).abs())  # (B, 3)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_part_no_format_carries_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    from siamese.cli.app import main
    from siamese.encoders import _registry

    def fft_probe(input_shape):
        return _SpectrumProbe(input_shape)

    monkeypatch.setitem(_registry._ENCODERS, "fft_probe", fft_probe)
    torch.manual_seed(0)
    args = {"input_shape": [8]}
    info = {"kind": "vector", "item_shape": [8]}
    SiameseModel(fft_probe(**args), encoder_name="fft_probe", encoder_args=args, info=info).save(
        tmp_path
    )
    with pytest.raises(SystemExit) as exc:
        main(["export", str(tmp_path), "--format", "onnx"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    line = " ".join(err.split())
    assert line.startswith(
        f"error: {tmp_path}: onnx cannot carry the encoder 'fft_probe' (_SpectrumProbe) ("
    )
    assert "fft_rfft" in line
    assert line.endswith(f"torchscript carries it: siamese export {tmp_path} --format torchscript")
    assert not (tmp_path / "model.onnx").exists()  # nothing half-written
    report = export_model(tmp_path, "torchscript")
    assert report["max_abs_diff"] <= 1e-4


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_demo_model_exports_from_the_cli(tmp_path, capsys):
    """The demo's LSTM (fixed spectrum features, instance norm, log_feature normaliser): ONNX
    export used to end in a traceback on ``aten::fft_rfft``."""
    from tiny_runs import tiny_config

    from siamese.cli.app import main
    from siamese.pipeline import train_from_config

    demo_like = [
        "model.fixed_features=0.7",
        "model.instance_norm=true",
        'model.pooling="concat"',
        'model.output_activation="l2"',
        'data.normalise="log_feature"',
    ]
    train_from_config(tiny_config(tmp_path, "demo", demo_like), report=False)
    for fmt in ("onnx", "torchscript"):
        main(["export", str(tmp_path / "demo"), "--format", fmt, "--json"])
        out = capsys.readouterr()
        report = json.loads(out.out)
        assert report["max_abs_diff"] <= 1e-4 and out.err == ""
        assert " test items of " in report["checked_on"] and report["inputs"] == [
            "items",
            "lengths",
        ]
