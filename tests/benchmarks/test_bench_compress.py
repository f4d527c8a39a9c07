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
