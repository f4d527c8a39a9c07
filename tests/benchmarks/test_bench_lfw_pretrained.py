"""benchmarks/lfw_pretrained.py runs end to end in --quick mode on the real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lfw_pretrained_quick(shared_data: Path, tmp_path: Path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "lfw_pretrained.py"), "--quick", "--threads",
         "1", "--crops", "95,110", "--select-pairs", "2", "--data", str(shared_data),
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads(out.read_text())
    lfw = rec["figures"]["lfw"]
    assert set(lfw["selection"]["per_candidate_10fold"]) == {"crop 95", "crop 110"}
    assert len(lfw["selected"]["candidate_per_fold"]) == 10
    assert 0.5 < lfw["selected"]["mean"] <= 1  # a pretrained face model on faces
    assert rec["figures"]["att"]["n_way"] == 5 and rec["figures"]["att"]["accuracy"] > 0.5
    assert "outside labelled face data" in rec["protocol"]
    assert out.with_suffix(".md").read_text().startswith("# Pretrained face embedder")


def test_lfw_pretrained_aligned_quick(shared_data: Path, tmp_path: Path):
    out = tmp_path / "a.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "lfw_pretrained.py"), "--quick", "--align",
         "--aligns", "68:0.75", "--threads", "1", "--select-pairs", "2", "--data",
         str(shared_data), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads(out.read_text())
    lfw = rec["figures"]["lfw"]
    assert rec["aligned"] is True and rec["alignment_candidates"] == ["68:0.75"]
    assert lfw["selected"]["candidate_per_fold"] == ["aligned 68-point, landmark box 0.75"] * 10
    assert 0.5 < lfw["selected"]["mean"] <= 1
    fails = lfw["alignment_failures"]
    assert fails["images"] == lfw["images"] and 0 <= fails["not_aligned"] <= fails["images"]
    assert rec["figures"]["att"]["framing"] == "zero-padded to 112x112"
    assert "faces aligned by the landmark model" in out.with_suffix(".md").read_text()
