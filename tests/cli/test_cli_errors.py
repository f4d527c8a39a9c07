"""The CLI: one-line errors with exit code 2 and nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _limits import HANG_S
from cli_run import run_cli

_run = run_cli  # (exit code, stdout, stderr) of an in-process CLI call


def test_missing_config_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "train", "--config", str(tmp_path / "nope.toml"))
    assert code == 2
    assert "config file" in err and "not found" in err
    assert "Traceback" not in err + out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--set", "training.epoch=3"], "valid keys in [training]"),
        (["--set", 'training.epochs="x"'], "expected an integer >= 1, got a string"),
        (
            ["--set", 'model.encoder="resnet"'],
            "valid encoders: conv1d, conv4, face_aligned, face_resnet, hf_vision, koch_cnn, lstm, mlp",
        ),
        (["--set", 'data.source="nope"'], "unknown data source 'nope'; valid sources:"),
    ],
)
def test_config_errors_are_one_line(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "train", *args, "--set", "data.n_per_pattern=5")
    assert code == 2, err
    assert needle in " ".join(err.split()) and "Traceback" not in err
    assert err.strip().startswith("error:")
    assert not any((tmp_path / "runs").glob("*/model.json"))


def test_model_folder_missing_file(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    code, _, err = _run(capsys, "evaluate", str(tmp_path / "run"))
    assert code == 2 and "config.json: missing" in err


def test_encoders_lists_all(capsys):
    code, out, _ = _run(capsys, "encoders", "--json")
    assert code == 0
    names = {row["name"] for row in json.loads(out)}
    assert {"koch_cnn", "conv4", "lstm", "mlp"} <= names


def test_demo_quick(tmp_path, capsys):
    code, out, err = _run(capsys, "demo", "--quick", "--json", "--out-dir", str(tmp_path))
    assert code == 0, err
    result = json.loads(out)
    assert result["unseen_queries"] >= 100 and 0.0 <= result["unseen_accuracy"] <= 1.0
    assert 0.0 <= result["unseen_accuracy_plain"] <= 1.0  # without the crowding correction
    assert result["crowding"]["beta"] == 0.5 and result["crowding"]["background"] > 0
    assert (tmp_path / "demo" / "model.safetensors").exists()
    assert (tmp_path / "demo" / "report.html").exists()


def test_console_script_error_has_no_traceback(tmp_path):
    """End to end through a real process: exit code 2, the message, no traceback."""
    r = subprocess.run(
        [sys.executable, "-m", "siamese", "train", "--config", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=HANG_S,
    )
    assert r.returncode == 2
    assert "not found" in r.stderr and "Traceback" not in r.stderr + r.stdout
