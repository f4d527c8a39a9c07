"""benchmarks/mining_comparison.py runs end to end in --quick mode on the real Omniglot files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mining_comparison_quick(shared_data: Path):
    script = ROOT / "benchmarks" / "mining_comparison.py"
    cmd = [sys.executable, str(script), "--quick", "--data", str(shared_data / "omniglot")]
    cmd += ["--strategies", "batch_hard", "sigmoid", "--threshold", "1.0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("│")]
    names = [row.split("│")[1].strip() for row in rows]
    assert names == ["batch_hard", "sigmoid"]
    for row in rows:  # train triplet acc, top-1, top-50 in [0, 1]; collapsed yes/no; wall time
        cells = [c.strip() for c in row.split("│")[2:-1]]
        assert all(0.0 <= float(c) <= 1.0 for c in cells[:3]) and cells[3] in ("yes", "no")
        assert float(cells[4]) >= 0
