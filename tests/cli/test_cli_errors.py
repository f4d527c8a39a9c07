"""The CLI: one-line errors with exit code 2 and nothing half-written."""

from __future__ import annotations

import subprocess
import sys


def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "siamese", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_missing_config_file(tmp_path):
    r = _run("train", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert r.returncode == 2
    assert "config file" in r.stderr and "not found" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "runs").exists()


def test_unknown_key_wrong_type_unknown_encoder(tmp_path):
    for args, needle in [
        (["--set", "training.epoch=3"], "valid keys in [training]"),
        (["--set", 'training.epochs="x"'], "expected int"),
        (["--set", 'model.encoder="resnet"'], "valid encoders: conv1d, conv4, koch_cnn, lstm, mlp"),
    ]:
        r = _run("train", *args, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert needle in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) <= 3  # one message (wrapped at most)
    assert not any((tmp_path / "runs").glob("*/model.json"))


def test_model_folder_missing_file(tmp_path):
    (tmp_path / "run").mkdir()
    r = _run("evaluate", str(tmp_path / "run"))
    assert r.returncode == 2 and "config.json: missing" in r.stderr


def test_encoders_lists_all():
    r = _run("encoders", "--json")
    assert r.returncode == 0
    assert all(n in r.stdout for n in ("koch_cnn", "conv4", "lstm", "mlp"))


def test_demo_quick(tmp_path):
    r = _run("demo", "--quick", "--json", "--out-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert out["unseen_queries"] >= 100 and 0.0 <= out["unseen_accuracy"] <= 1.0
    assert (tmp_path / "demo" / "model.safetensors").exists()
