"""benchmarks/gallery_scale.py --quick runs end to end and meets its recall and error targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _limits import HANG_S

ROOT = Path(__file__).resolve().parents[2]


def test_gallery_scale_quick():
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gallery_scale.py"),
            "--quick",
            "--json",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["index"]["index"] == "hnsw" and out["index"]["recall@50"] >= 0.99
    assert out["service"]["errors"] == 0 and out["service"]["requests"] == 40
    assert out["service"]["p99_ms"] >= out["service"]["p50_ms"] > 0
