"""benchmarks/omniglot.py and benchmarks/lfw.py run end to end in --quick mode on the real data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _limits import HANG_S

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, data: Path, out: Path, *extra: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / script),
            "--quick",
            "--seed",
            "1",
            "--data",
            str(data),
            "--out",
            str(out),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "wall clock" in proc.stdout  # the one table, with the time
    return json.loads(out.read_text())


@pytest.mark.slow
def test_omniglot_quick(shared_data: Path, tmp_path: Path):
    rec = _run(
        "omniglot.py", shared_data / "omniglot", tmp_path / "omniglot.json", "--crowding", "0.5"
    )
    for suffix in ("", "_crowding"):  # plain nearest support, and corrected for crowding
        official = rec["figures"]["official_20_runs" + suffix]
        assert official["trials"] == 400 and len(official["per_run"]) == 20
        assert 0.0 <= official["accuracy"] <= 1.0
        assert set(rec["figures"]["evaluation_episodes" + suffix]) == {"20_way", "5_way"}
    assert rec["figures"]["crowding"]["beta"] == 0.5
    ver = rec["figures"]["verification"]  # TAR@FAR at 0.1, 0.01, 0.001 on 10,000 impostor pairs
    assert ver["impostor_pairs"] == 10_000
    assert all(0.0 <= ver["tar_at_far"][f] <= 1.0 for f in ("0.1", "0.01", "0.001"))
    assert rec["figures"]["test_time_shift"] == 1  # the config's setting, saved with the model
    assert rec["seed"] == 1 and rec["quick"] is True and rec["train_wall_seconds"] > 0


@pytest.mark.slow
def test_lfw_quick(shared_data: Path, tmp_path: Path):
    rec = _run("lfw.py", shared_data / "lfw", tmp_path / "lfw.json")
    dev, view2 = rec["figures"]["dev"], rec["figures"]["view2"]
    assert 0.0 <= dev["accuracy"] <= 1.0 and dev["test_pairs"] > 0
    assert len(view2["per_fold"]) == 10 and view2["std"] >= 0
    assert "threshold cross-validation only" in view2["protocol"]
    # The quick pairs files: 30 different-person test pairs (FAR 0.1 only), 50 in View 2.
    assert dev["test_tar_at_far"]["0.01"] is None and 0 <= dev["test_tar_at_far"]["0.1"] <= 1
    assert set(view2["tar_at_far"]) == {"0.1", "0.01", "0.001"}
    assert rec["seed"] == 1 and rec["flip_averaged"] is True
