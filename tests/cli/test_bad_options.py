"""Bad command-line input, as users make it: one line, exit code 2, nothing written.

The table below is a probe: each row is a command with one bad option (or input) and a fragment
of the message it must print. Every row runs in a fresh folder and must leave it empty.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import numpy as np
import pytest
from _limits import HANG_S
from test_cli_errors import _run  # the in-process CLI runner: (exit code, stdout, stderr)

PROBE = [
    # option ranges: usage errors before the command does anything
    (["evaluate", "run", "--n-way", "0"], "--n-way 0: expected an integer >= 2"),
    (["evaluate", "run", "--n-way", "1"], "--n-way 1: expected an integer >= 2"),
    (["evaluate", "run", "--k-shot", "0"], "--k-shot 0: expected an integer >= 1"),
    (["evaluate", "run", "--episodes", "-5"], "--episodes -5: expected an integer >= 1"),
    (["verify", "run", "a.npy", "b.npy", "--threshold", "nan"], "--threshold nan: expected a fin"),
    (["verify", "run", "a.npy", "b.npy", "--threshold", "-1"], "--threshold -1.0: expected"),
    (["verify", "run", "a.npy", "b.npy", "--threshold", "inf"], "--threshold inf: expected"),
    (["enroll", "run", "--out", "g", "--crowding", "-1"], "--crowding -1.0: expected a finite"),
    (["enroll", "run", "--out", "g", "--crowding", "nan"], "--crowding nan: expected"),
    (["enroll", "run", "--out", "g", "--shots", "0"], "--shots 0: expected an integer >= 1"),
    (["enroll", "run", "--out", "g", "--far", "1.5"], "--far 1.5: expected a finite number in"),
    (["enroll", "run", "--out", "g", "--far", "-0.1"], "--far -0.1: expected"),
    (["enroll", "run", "--out", "g", "--threshold", "nan"], "--threshold nan: expected"),
    (["enroll", "run", "--out", "g", "--holdout-classes", "-2"], "--holdout-classes -2: exp"),
    (["enroll", "run", "--out", "g", "--seed", "-1"], "--seed -1: expected an integer >= 0"),
    (["identify", "g", "q.npy", "-k", "0"], "-k 0: expected an integer >= 1"),
    (["identify", "g", "q.npy", "-k", "-3"], "-k -3: expected an integer >= 1"),
    (
        ["serve", "g", "--max-request-mb", "-1"],
        "--max-request-mb -1.0: expected a finite number > 0",
    ),
    (["serve", "g", "--max-request-mb", "0"], "--max-request-mb 0.0: expected"),
    (["serve", "g", "--port", "99999"], "--port 99999: expected an integer in [1, 65535]"),
    (["serve", "g", "--port", "0"], "--port 0: expected an integer in [1, 65535]"),
    (["mine", "--source", "traffic", "--cycles", "0"], "--cycles 0: expected an integer >= 1"),
    (["mine", "--source", "traffic", "--threshold", "2"], "--threshold 2.0: expected a finite"),
    (["mine", "--source", "traffic", "--growth", "nan"], "--growth nan: expected a finite"),
    (["mine", "--source", "traffic", "--midpoint", "-1"], "--midpoint -1.0: expected"),
    (
        ["mine", "--source", "traffic", "--margin", "0"],
        "--margin 0.0: expected a finite number > 0",
    ),
    (["mine", "--source", "traffic", "--triplets", "-1"], "--triplets -1: expected"),
    (["mine", "--source", "traffic", "--test-triplets", "-1"], "--test-triplets -1: expected"),
    (["mine", "--source", "traffic", "--test-fraction", "1"], "--test-fraction 1.0: expected"),
    (["mine", "--source", "traffic", "--seed", "-4"], "--seed -4: expected an integer >= 0"),
    (["data", "inspect", "--source", "traffic", "--seed", "-1"], "--seed -1: expected"),
    (["data", "inspect", "--source", "traffic", "--val-fraction", "1.2"], "--val-fraction 1.2"),
    (["data", "inspect", "--source", "traffic", "--test-fraction", "nan"], "--test-fraction nan"),
    # run names and output paths that would leave their folder or clobber something
    (["sweep", "--name", "../../x", "--grid", "training.epochs=1"], "--name = '../../x': expec"),
    (["sweep", "--name", "/tmp/x", "--grid", "training.epochs=1"], "expected a relative folder"),
    (["train", "--set", 'name="../../x"'], "config key 'name' = '../../x': expected a relative"),
    (["train", "--set", 'name="/abs/x"'], "config key 'name' = '/abs/x': expected a relative"),
    (["train", "--set", "training.learning_rate=-1"], "'training.learning_rate' = -1.0: expected"),
    (["train", "--set", "evaluation.k_shot=0"], "'evaluation.k_shot' = 0: expected an integer"),
    (["train", "--set", 'model.hidden_size="big"'], "'model.hidden_size' = 'big': expected an in"),
]


def _one_line_error(code: int, out: str, err: str, needle: str) -> None:
    assert code == 2, err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize("args,needle", PROBE, ids=[" ".join(a) for a, _ in PROBE])
def test_probe_bad_options(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, *args)
    _one_line_error(code, out, err, needle)
    assert list(tmp_path.iterdir()) == [], "a bad option must write nothing"


def test_serve_on_a_busy_port_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        code, out, err = _run(capsys, "serve", "g", "--port", str(port))
    finally:
        holder.close()
    _one_line_error(code, out, err, f"--port {port}: 127.0.0.1:{port} is already in use")


def test_serve_on_a_host_that_does_not_resolve(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "serve", "g", "--host", "no such host!", "--port", "8123")
    _one_line_error(code, out, err, "--host 'no such host!': not an address to listen on")


def test_busy_port_through_a_real_process_exits_2_not_3(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        r = subprocess.run(
            [sys.executable, "-m", "siamese", "serve", "g", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=HANG_S,
        )
    finally:
        holder.close()
    assert r.returncode == 2, r.stderr
    assert "already in use" in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_report_output_that_is_a_folder(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    code, out, err = _run(capsys, "report", str(tmp_path), "-o", str(tmp_path / "out"))
    _one_line_error(code, out, err, "is a folder; pass a file path such as")
    assert list((tmp_path / "out").iterdir()) == []


def test_enroll_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "g").write_text("keep me")
    code, out, err = _run(capsys, "enroll", str(tmp_path), "--out", str(tmp_path / "g"))
    _one_line_error(code, out, err, "is a file; pass a folder for the gallery")
    assert (tmp_path / "g").read_text() == "keep me"


def test_data_inspect_config_with_an_unknown_section(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\nsource = "traffic"\nn_per_pattern = 4\n[trainig]\nepochs = 2\n')
    code, out, err = _run(capsys, "data", "inspect", "--config", str(cfg))
    _one_line_error(code, out, err, "unknown config key 'trainig'; valid keys: name, seed")


def test_data_inspect_config_with_a_value_out_of_range(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\nsource = "traffic"\nn_per_pattern = 4\nval_fraction = -0.5\n')
    code, out, err = _run(capsys, "data", "inspect", "--config", str(cfg))
    _one_line_error(code, out, err, "'data.val_fraction' = -0.5: expected a finite number in")


def _tiny_gallery(folder):
    """A gallery of a seeded, untrained 8 -> 4 MLP over three classes (no training)."""
    import torch

    from siamese.encoders import create_encoder
    from siamese.gallery import Gallery
    from siamese.model import SiameseModel

    torch.manual_seed(0)
    args = {"input_shape": [8], "hidden": [16], "embedding_dim": 4}
    model = SiameseModel(
        create_encoder("mlp", **args),
        encoder_name="mlp",
        encoder_args=args,
        info={"kind": "vector", "item_shape": [8]},
    )
    x = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    Gallery(model).fit(x, [f"c{i % 3}" for i in range(12)]).save(folder)
    return x


@pytest.mark.parametrize("model_path", ["../outside", "/tmp", "model/../../outside", "", 7])
def test_gallery_model_path_outside_the_folder(tmp_path, capsys, model_path):
    x = _tiny_gallery(tmp_path / "g")
    np.save(tmp_path / "q.npy", x[0])
    code, out, err = _run(capsys, "identify", str(tmp_path / "g"), str(tmp_path / "q.npy"))
    assert code == 0, err  # the untampered gallery works
    cfg_path = tmp_path / "g" / "gallery.json"
    cfg = json.loads(cfg_path.read_text())
    (tmp_path / "g" / "model").rename(tmp_path / "outside")  # a model there would load
    cfg["model"] = model_path
    cfg_path.write_text(json.dumps(cfg))
    code, out, err = _run(capsys, "identify", str(tmp_path / "g"), str(tmp_path / "q.npy"))
    _one_line_error(code, out, err, f"model path {model_path!r} leaves the gallery folder")


def test_evaluate_n_way_beyond_the_test_classes(tmp_path, capsys):
    """``evaluate --n-way 50`` on a run with 2 test classes is an error, never capped; an N the
    split has runs; the run folder is left as it was."""
    from tiny_runs import tiny_config

    from siamese.pipeline import train_from_config

    run = train_from_config(tiny_config(tmp_path, "r"), report=False).run_dir
    before = (run / "evaluation.json").read_bytes()
    capsys.readouterr()  # what training printed
    code, out, err = _run(capsys, "evaluate", str(run), "--n-way", "50")
    _one_line_error(
        code,
        out,
        err,
        "--n-way 50: the test split has only 2 classes with >= 2 items (k_shot + 1) of its 2; "
        "pass --n-way <= 2, leave it out (the run's config), or give the test split more classes",
    )
    code, out, err = _run(capsys, "evaluate", str(run), "--n-way", "2", "--json")
    assert code == 0 and json.loads(out)["n_way"] == 2, err
    assert (run / "evaluation.json").read_bytes() == before
