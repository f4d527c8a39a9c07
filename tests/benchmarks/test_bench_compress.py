"""benchmarks/compress.py runs end to end in --quick mode on the real data (the two recipes that
train in seconds; koch_cnn on LFW and conv4 on Omniglot take minutes even in --quick)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_compress_quick(shared_data: Path, tmp_path: Path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "compress.py"), "--quick", "--recipes",
           "mlp_nslkdd", "lstm_demo", "--data", str(shared_data), "--out-dir", str(tmp_path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / "compress.json").read_text())
    assert result["mode"] == "quick" and len(result["load_average_start"]) == 3
    assert [r["recipe"] for r in result["results"]] == ["mlp_nslkdd", "lstm_demo"]
    for r in result["results"]:
        v = {x["variant"]: x for x in r["variants"]}
        assert list(v) == ["float32", "fp16", "int8", "pruned50", "pruned50_int8"]
        assert v["int8"]["int8_mode"] == "dynamic" and v["int8"]["bytes"] < v["float32"]["bytes"]
        assert v["pruned50_int8"]["bytes"] < v["pruned50"]["bytes"] < v["float32"]["bytes"]
        assert r["safetensors_bytes_pruned"] < r["safetensors_bytes"]
        for x in v.values():
            assert x["latency_ms_1t"] > 0 and x["latency_ms_2t"] > 0
            assert 0 <= x["accuracy"] <= 1
        assert v["float32"]["cosine_min"] > 1 - 1e-5  # the float32 export is the library
        assert "cosine_mean" not in v["pruned50"]  # another model: compared by accuracy only
    md = (tmp_path / "compress.md").read_text()
    assert "| pruned50_int8 | dynamic |" in md and "load average" in md


def _compress(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "compress.py"), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)


@pytest.mark.slow
def test_compress_a_run_trained_on_a_pair_list_is_scored_on_its_listed_pairs(
    shared_data: Path, tmp_path: Path
):
    """``--run koch_lfw=DIR``: koch_lfw.py's (quick) run, not trained here; every variant is
    scored like its benchmark (pair head on the listed test.txt pairs, threshold from the
    variant's own held-out pairs); ``--amount`` names the pruned columns."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from koch_lfw import QUICK

    from siamese.training.config import load_config
    from siamese.training.run import train_run

    overrides = [*QUICK, f'out_dir="{tmp_path / "runs"}"', f'data.path="{shared_data / "lfw"}"']
    cfg = load_config(ROOT / "configs" / "koch_lfw.toml", overrides)
    run = train_run(cfg).run_dir
    out = tmp_path / "out"
    proc = _compress("--quick", "--recipes", "koch_lfw", "--run", f"koch_lfw={run}",
                     "--amount", "0.25", "--fine-tune-steps", "1", "--out-dir", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = json.loads((out / "compress.json").read_text())["results"][0]
    assert r["run"] == str(run) and r["train_seconds"] is None and r["amount"] == 0.25
    assert r["primary"] == "pair_test_accuracy" and r["fine_tune"]["steps"] == 1
    v = {x["variant"]: x for x in r["variants"]}
    assert list(v) == ["float32", "fp16", "int8", "int8_dynamic", "pruned25", "pruned25_int8"]
    for x in v.values():  # quick: test.txt's first 20 + 20 listed pairs
        assert 0 <= x["pair_test_accuracy"] <= 1 and 0 <= x["pair_test_auc"] <= 1
    # the float32 export scores the pairs as the library does: the same embeddings; the tiny
    # model's near-tied pair scores may swap one or two of the 400 same/different orderings
    assert v["float32"]["cosine_min"] > 1 - 1e-5
    assert v["float32"]["pair_test_auc"] == pytest.approx(r["library"]["pair_test_auc"], abs=0.006)
    assert "pair test accuracy" in (out / "compress.md").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--run", "koch"], "expected RECIPE=DIR with RECIPE one of koch_lfw"),
        (["--run", "koch_lfw=/nonexistent/run"], "is not a run folder"),
        (["--run", "koch_lfw=CORRUPT"], "is not a readable run config (Expecting property name"),
        (["--amount", "1.5"], "amount"),
        (["--fine-tune-steps", "-1"], "expected 0 or more steps"),
    ],
)
def test_compress_bad_options_are_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path
):
    (tmp_path / "config.json").write_text("{not json")  # a run folder with a corrupt config
    proc = _compress(*[a.replace("CORRUPT", str(tmp_path)) for a in args])
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
