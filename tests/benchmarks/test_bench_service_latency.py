"""benchmarks/service_latency.py --quick runs end to end through `siamese serve`: the unbatched
baseline, the batcher and two batched processes answer every request, with the same answers, and
every figure is there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _limits import HANG_S

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # four `siamese serve` processes start, one after another
def test_service_latency_quick(tmp_path):
    out = tmp_path / "latency.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "service_latency.py"),
            "--quick",
            "--requests",
            "5",
            "--waits",
            "0",
            "--processes",
            "2",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "p99 ratio" in proc.stdout and "load average before" in proc.stdout
    r = json.loads(out.read_text())
    settings = r["settings"]
    assert list(settings) == [
        "unbatched (--no-batch)",
        "batched, max 64 items, wait 0 ms",
        "batched, wait 0 ms, 2 server processes",
    ]
    for row in settings.values():
        assert row["requests"] == 8 * 5 and row["errors"] == 0
        assert row["answers_equal_baseline"] == row["requests"]  # batched answers = unbatched
        assert row["p99_ms"] >= row["p95_ms"] >= row["p50_ms"] > 0 and row["rps"] > 0
        assert row["server_cpu_ms_per_request"] > 0
    assert settings["unbatched (--no-batch)"]["p99_ratio_baseline_over_this"] == 1.0
    assert len(r["load_average_before"]) == 3
