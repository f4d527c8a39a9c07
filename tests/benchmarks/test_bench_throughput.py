"""benchmarks/throughput.py --quick runs end to end on the real data and reports every figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_throughput_quick(shared_data, tmp_path):
    out = tmp_path / "throughput.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "throughput.py"),
            "--quick",
            "--threads",
            "1",
            "--data",
            str(shared_data),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "reuse / twin pairs/s" in proc.stdout
    r = json.loads(out.read_text())
    reuse = r["reuse"]
    # 32 unique images carry 96 pairs; twin towers embed 192 images for them: reuse must pay.
    assert reuse["pairs_per_s_ratio"] >= 2.0
    assert reuse["reuse"]["accuracy"] >= reuse["twin"]["accuracy"] - 0.03
    assert r["matmul_gflops_start"] > 0
    for name in ("koch_cnn", "conv4"):
        row = r["hardware"][name]
        assert row["train_gflop_per_item"] > 2 * row["fwd_gflop_per_item"] > 0
        for v in row["variants"].values():
            assert 0 < v["infer_fraction"] < 3 and 0 < v["train_fraction"] < 3
    assert 1.7 < r["hardware"]["koch_cnn"]["fwd_gflop_per_item"] < 1.9  # ~1.82 GFLOP at 105x105
    assert r["data"]["loader_items_per_s"] > 0 and 0 <= r["data"]["prefetch"]["wait_share"] < 1
    assert r["latency"]["gallery_classes"] == 1000
    for what in ("verify", "identify"):
        assert r["latency"][what]["p99_ms"] >= r["latency"][what]["p50_ms"] > 0
