"""benchmarks/hf_vision_cost.py --quick: a tiny random ViT through hf_vision, its FLOPs per item
counted (attention included) and its items/s timed, with the load average printed beside them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import hf_vision_cost  # noqa: E402


def test_quick_run_prints_measured_cost(tmp_path, capsys):
    pytest.importorskip("transformers")
    assert (
        hf_vision_cost.main(["--quick", "--repeats", "1", "--json", str(tmp_path / "c.json")]) == 0
    )
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    row, summary = out[0], out[-1]
    assert row["model"] == "vit-tiny" and row["items_per_s"] > 0 and row["attention_timed"]
    # the linear layers alone: 2 layers x 17 tokens x 2048 multiply-adds (q, k, v, out: 4 x 16 x
    # 16; MLP: 2 x 16 x 32) x 2 FLOP; patch embedding, attention and pooler add under as much again
    linear = 2 * 17 * 2048 * 2
    assert linear < row["gflop_per_item"] * 1e9 < 3 * linear
    assert summary["load_average_before"] and summary["weights"].startswith("random")
    assert json.loads((tmp_path / "c.json").read_text())["rows"] == [row]
