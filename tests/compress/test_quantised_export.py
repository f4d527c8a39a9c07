"""`siamese export --precision fp16|int8`: ONNX Runtime's conversions, compared with the float32
library model on the run's own test items, described beside the file, and refused where they
cannot work (one line, exit 2)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from siamese.compress import OnnxModel
from siamese.errors import ConfigError
from siamese.export import export_model
from siamese.model import SiameseModel
from tests.cli.test_cli_errors import _run as _cli


@pytest.mark.parametrize(
    "name,precision,mode",
    [
        ("conv4", "int8", "static"),
        ("conv4", "int8", "dynamic"),
        ("conv4", "fp16", "auto"),
        ("mlp", "int8", "auto"),
        ("lstm", "int8", "auto"),
        ("conv1d", "fp16", "auto"),
    ],
)
def test_export_is_compared_with_the_library(tiny_run, name, precision, mode):
    run = tiny_run(name)
    report = export_model(run, "onnx", precision=precision, int8_mode=mode)
    out = run / f"model.{precision}.onnx"
    assert report["path"] == str(out) and out.is_file() and report["bytes"] == out.stat().st_size
    want_mode = {"auto": {"mlp": "dynamic", "lstm": "dynamic"}.get(name, "static")}.get(mode, mode)
    assert report["int8_mode"] == (want_mode if precision == "int8" else None)
    cmp = report["comparison"]
    assert cmp["split"] == "test" and cmp["items"] > 0
    assert 0.9 < cmp["cosine_min"] <= cmp["cosine_mean"] <= 1.0 + 1e-6
    assert set(cmp["export"]) == set(cmp["library"])  # the same evaluation on both
    if name not in ("lstm", "conv1d"):  # the tiny series file leaves one test class
        assert {"accuracy", "auc"} <= set(cmp["export"])
        library = json.loads((run / "evaluation.json").read_text())
        assert cmp["library"]["accuracy"] == pytest.approx(library["accuracy"])
    meta = json.loads((run / f"model.{precision}.onnx.json").read_text())
    assert meta["precision"] == precision and meta["comparison"] == json.loads(json.dumps(cmp))
    onnx = OnnxModel(out)
    assert onnx.precision == precision and (onnx.head is None) == (model_head(run) is None)


def model_head(run):
    return SiameseModel.load(run).head


def test_float32_onnx_is_exact_and_described(tiny_run):
    run = tiny_run("mlp")
    report = export_model(run, "onnx")
    assert report["max_abs_diff"] <= 1e-4 and report["precision"] == "float32"
    assert report["comparison"] is None  # exact to 1e-4: nothing to compare
    assert json.loads((run / "model.onnx.json").read_text())["format"] == "siamese-export/1"
    # OnnxModel runs the file as SiameseModel embeds and compares
    model, onnx = SiameseModel.load(run), OnnxModel(run / "model.onnx")
    x = np.random.default_rng(0).normal(size=(5, *model.info["item_shape"])).astype(np.float32)
    np.testing.assert_allclose(onnx.embed(x).numpy(), model.embed(x).numpy(), atol=1e-4)
    e = model.embed(x)
    np.testing.assert_allclose(
        onnx.similarity(e, e.flip(0)), model.similarity(e, e.flip(0)), atol=1e-5
    )


def test_int8_is_smaller_for_a_model_dominated_by_weights(tiny_run):
    run = tiny_run("mlp", head=False, model={"hidden": [256, 256], "embedding_dim": 64})
    f32 = export_model(run, "onnx", check=False)["bytes"]
    int8 = export_model(run, "onnx", precision="int8", int8_mode="dynamic", check=False)["bytes"]
    fp16 = export_model(run, "onnx", precision="fp16", check=False)["bytes"]
    assert int8 < 0.35 * f32 and fp16 < 0.6 * f32


def test_bad_precisions_and_no_calibration_data(tiny_run, tmp_path, capsys):
    run = tiny_run("conv4")
    code, _, err = _cli(
        capsys, "export", str(run), "--format", "torchscript", "--precision", "int8"
    )
    assert code == 2 and "torchscript exports are float32 only; use --format onnx" in err
    code, _, err = _cli(capsys, "export", str(run), "--precision", "int4")
    assert code == 2 and "precision: expected one of float32, fp16, int8, got 'int4'" in err
    code, _, err = _cli(capsys, "export", str(run), "--precision", "int8", "--int8-mode", "x")
    assert code == 2 and "int8 mode: expected one of auto, static, dynamic" in err
    bare = tmp_path / "model-only"  # a model folder: no config.json, so no training items
    bare.mkdir()
    for f in ("model.json", "model.safetensors"):
        shutil.copy(run / f, bare / f)
    code, out, err = _cli(capsys, "export", str(bare), "--precision", "int8")
    assert code == 2 and "Traceback" not in err + out
    assert "int8 static needs calibration items from the run's training data" in err
    assert "--int8-mode dynamic" in err and not (bare / "model.int8.onnx").exists()
    with pytest.raises(ConfigError, match="torchscript exports are float32 only"):
        export_model(run, "torchscript", precision="fp16")
    # dynamic needs no calibration: the bare model folder exports, checked on random items
    report = export_model(bare, "onnx", precision="int8", int8_mode="dynamic")
    assert report["comparison"] is None and report["checked_on"].startswith("random items")
