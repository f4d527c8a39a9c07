"""benchmarks/mining_comparison.py runs end to end in --quick mode on the real Omniglot files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _limits import HANG_S

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mining_comparison_quick(shared_data: Path, tmp_path: Path):
    script = ROOT / "benchmarks" / "mining_comparison.py"
    out = tmp_path / "mining_comparison.json"
    cmd = [sys.executable, str(script), "--quick", "--data", str(shared_data / "omniglot")]
    cmd += ["--settings", "omniglot", "--strategies", "batch_hard", "scheduled", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_S, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[2].strip() for row in rows] == ["batch_hard", "scheduled"]
    result = json.loads(out.read_text())
    assert result["quick"] is True
    runs = {r["strategy"]: r for r in result["runs"]}
    assert set(runs) == {"batch_hard", "scheduled"}
    for r in runs.values():
        # equal steps, batch and triplets per step: one triplet per item of the 32 x 2 batch
        assert r["steps"] == 40 and r["items_per_step"] == 64 and r["triplets_per_step"] == 64
        assert all(0.0 <= r[k] <= 1.0 for k in ("top1", "top50", "train_triplet_accuracy"))
        assert isinstance(r["collapsed"], bool) and r["spread_ratio"] > 0
        assert r["wall_seconds"] > 0
    # the schedule rose over the run: the last epoch's target is near its top (1.0)
    assert 0.5 < runs["scheduled"]["hardness_target_last_epoch"] <= 1.0
    assert runs["batch_hard"]["hardness_target_last_epoch"] is None
    summary = result["summary"]["omniglot"]
    assert summary["scheduled"]["seeds"] == [0] and summary["batch_hard"]["collapsed"] in (0, 1)
