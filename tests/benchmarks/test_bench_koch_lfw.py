"""benchmarks/koch_lfw.py runs end to end in --quick mode on the real LFW files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _limits import HANG_S

ROOT = Path(__file__).resolve().parents[2]


def _run(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "koch_lfw.py"), "--quick", "--seed", "1"]
        + ["--data", str(data), "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=False,
        env=env,
    )


@pytest.mark.slow
def test_koch_lfw_quick(shared_data: Path, tmp_path: Path):
    out = tmp_path / "koch.json"
    proc = _run(shared_data / "lfw", out)  # default: faithful, then rescore
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "0.732" in proc.stdout  # the seed's figure beside ours
    rec = json.loads(out.read_text())
    a = rec["stages"]["faithful"]
    # quick: the first 20 + 20 pairs of each file; 8 of train.txt's held out
    assert a["val"]["pairs"] == 8 and a["test"]["pairs"] == 40 and a["test_1000"]["pairs"] == 40
    for part in ("test", "test_1000", "val"):
        assert 0 <= a[part]["accuracy_at_0.5"] <= 1 and 0 <= a[part]["auc"] <= 1
    assert 0 <= a["val"]["threshold"] <= 1 and a["flip_averaged"] is False
    assert [h["epoch"] for h in a["history"]] == [0, 1] and a["train_cpu_seconds"] > 0
    r = rec["stages"]["rescore"]  # the frozen encoder, scoring chosen on the held-out pairs
    assert set(r["candidates"]) == {
        "trained pair head",
        "cosine similarity",
        "minus L1 distance",
        *(f"pair head refit, C={c}" for c in ("0.01", "0.1", "1", "10")),
    }
    best = max(v["val"]["accuracy_at_val_threshold"] for v in r["candidates"].values())
    assert r["val"]["accuracy_at_val_threshold"] == best
    assert r["test"] == r["candidates"][r["scoring"]]["test"]
    head = r["candidates"]["trained pair head"]  # the same model and pairs as (a)
    assert head["test"] == a["test"] and head["val"] == a["val"]
    # a second stage updates the same record, keeping the first
    proc = _run(shared_data / "lfw", out, "--stage", "improved")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads(out.read_text())
    assert set(rec["stages"]) == {"faithful", "rescore", "improved"}
    b = rec["stages"]["improved"]
    assert "data.crop=100" in b["overrides"] and b["other_scoring"] is not None
    assert b["flip_averaged"] != b["other_scoring"]["flip_averaged"]
