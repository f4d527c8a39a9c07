"""benchmarks/mining_comparison.py runs end to end in --quick mode on the real Omniglot files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def test_selection_split_holds_out_background_characters_only(shared_data: Path):
    """--settings select never touches the evaluation alphabets: training keeps 2 drawings of
    the first two thirds of the background characters, the last third is the (whole) test part."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import mining_comparison as bench
    finally:
        sys.path.pop(0)
    ds = bench.omniglot_low_shot(str(shared_data / "omniglot"), limit_classes=30, select=True)
    assert all("images_background" in s for s in ds.sources)
    train, test = ds.labels[ds.split == "train"], ds.labels[ds.split == "test"]
    assert set(train) == set(range(20)) and set(test) == set(range(20, 30))
    assert np.bincount(train).tolist() == [2] * 20 and np.bincount(test)[20:].tolist() == [20] * 10
