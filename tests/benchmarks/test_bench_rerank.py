"""benchmarks/rerank.py runs end to end in --quick mode on the real Omniglot runs."""

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
def test_rerank_quick(shared_data: Path, tmp_path: Path):
    out = tmp_path / "rerank.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "rerank.py"), "--quick", "--data",
           str(shared_data / "omniglot"), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=HANG_S, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fig = json.loads(out.read_text())["figures"]
    assert fig["trials"] == 400 and fig["k"] == 5
    change = fig["official_20_runs_top1_reranked"] - fig["official_20_runs_top1"]
    assert fig["top1_change"] == pytest.approx(change)
    assert 0 <= fig["answers_changed"] <= 400
