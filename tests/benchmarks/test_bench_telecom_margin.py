"""The telecom LSTM and margin-table scripts run end to end in quick mode: the telecom run's report
holds the 3-D animation (more than one frame, three axes), and the margin table's loss is the
library's triplet loss."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _limits import HANG_S

from siamese.objectives import TripletLoss

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import margin_table  # noqa: E402
import telecom_lstm  # noqa: E402


def _run(script: str, out: Path, *extra: str) -> tuple[dict, str]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out)]
    proc = subprocess.run(
        cmd + list(extra), capture_output=True, text=True, timeout=HANG_S, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "wall time" in proc.stdout
    return json.loads(out.read_text()), proc.stdout


def test_telecom_quick_report_animates_the_cube(tmp_path):
    res, stdout = _run(
        "telecom_lstm.py", tmp_path / "t.json", "--variants", "input_bn",
        "--runs-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert res["mode"] == "quick" and res["seeds"] == [0]
    run = res["runs"][0]
    view = run["report_3d"]
    assert view["frames"] > 1 and view["axes"] == ["x", "y", "z"] and view["play_button"]
    assert view["method"] == "the embedding's own 3 coordinates"
    assert (
        [e["epoch"] for e in run["epochs"]] == [h["epoch"] for h in run["history"]] == [0, 1, 2, 3]
    )
    assert view["frames"] == len(run["epochs"])
    for e in run["epochs"]:
        assert set(e["classes"]) == {"normal", "blocked", "capacity_limit"}
        for c in e["classes"].values():
            assert 0.0 <= c["corner_distance"] <= 3**0.5 / 2 and 0 < c["corner_share"] <= 1
    assert 0.0 <= run["test_1nn_accuracy"] <= 1.0
    modes = run["bn_modes"]
    assert len(modes["running_mean_offset"]) == 5  # one per input channel
    assert modes["val_loss_running_stats"] >= 0 and modes["val_loss_batch_stats"] >= 0
    assert "val loss batch/running stats" in stdout


def test_corner_stats_by_hand():
    emb = np.array([[0.1, 0.0, 0.9], [0.0, 0.2, 1.0], [0.9, 0.9, 0.1], [0.5, 0.5, 0.5]])
    s = telecom_lstm.corner_stats(emb, np.array([0, 0, 1, 1]), ["a", "b"])
    a, b = s["classes"]["a"], s["classes"]["b"]
    assert a["corner"] == "001" and a["corner_share"] == 1.0
    assert a["corner_distance"] == pytest.approx((np.sqrt(0.02) + 0.2) / 2)
    assert b["corner_distance"] == pytest.approx((np.sqrt(0.03) + np.sqrt(0.75)) / 2)
    assert s["distinct_corners"]


@pytest.mark.parametrize("name", list(margin_table.DISTANCES))
def test_margin_table_loss_is_the_library_triplet_loss(name):
    torch.manual_seed(0)
    model = margin_table.build(16, name, 7, seed=0)
    emb = model(torch.randn(12, 7))
    labels = torch.as_tensor(np.repeat(np.arange(4), 3))
    ours = margin_table.batch_all_loss(model.distance, emb, labels, 0.3)
    want = TripletLoss(0.3, model.distance)(emb, labels)
    assert float(ours.detach()) == pytest.approx(float(want.detach()))


def test_margin_table_quick(shared_data, tmp_path):
    res, _ = _run(
        "margin_table.py", tmp_path / "m.json", "--data", str(shared_data / "nsl-kdd"),
        "--dims", "16", "64", "--distances", "euclidean", "cosine",
    )  # fmt: skip
    assert res["mode"] == "quick" and len(res["cells"]) == 4
    cells = {(c["distance"], c["dim"]): c for c in res["cells"]}
    for c in res["cells"]:
        assert [r["set_by"] for r in c["rows"]] == ["grid"] * 3 + ["auto"]
        for r in c["rows"]:
            assert 0 <= r["active_init"] <= 1 and 0 <= r["active_after"] <= 1
            assert 0 <= r["accuracy"] <= 1
        actives = [r["active_init"] for r in c["rows"][:3]]
        assert actives == sorted(actives)  # a larger margin leaves more triplets active
        assert c["auto_margin"] == pytest.approx(0.2 * c["untrained_distance"]["median"])
    # the untrained euclidean distances grow with the dimension; cosine ones do not
    e16, e64 = (cells["euclidean", d]["untrained_distance"]["median"] for d in (16, 64))
    c16, c64 = (cells["cosine", d]["untrained_distance"]["median"] for d in (16, 64))
    assert e64 > 1.5 * e16 and abs(c64 - c16) < 0.3 * c16
