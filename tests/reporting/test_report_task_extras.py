"""What the task and results sections add: 1-NN DTW on the test episodes, TAR@FAR when
evaluation.json has it, a measured reason beside each example pair, convergence in numbers, and
a 30-epoch report within the size and time budget."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time

import numpy as np
import pytest
import torch
from report_pages import page_json, page_text
from tiny_runs import tiny_config

from siamese.evaluation.one_shot import sample_episodes
from siamese.model import SiameseModel
from siamese.pipeline import train_from_config
from siamese.reporting import RunFolder, build_report
from siamese.reporting import html as h
from siamese.reporting.baseline_dtw import dtw_episodes, unpadded_inputs
from siamese.reporting.convergence import seconds_until
from siamese.reporting.pair_reasons import pair_measures, pair_reason
from siamese.reporting.run_data import load_run_data
from siamese.reporting.sections_results import tar_at_far_table
from siamese.reporting.view3d import LEVELS, decode_frame


def _series(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 4)
    series = []
    for c in labels:  # class c: a sine of frequency c + 1, variable lengths, 2 channels
        n = int(rng.integers(15, 30))
        t = np.linspace(0, 2 * np.pi, n)
        x = np.stack([np.sin((c + 1) * t), np.cos((c + 1) * t)], axis=1)
        series.append(x + rng.normal(scale=0.3, size=x.shape))
    return series, labels


def test_dtw_baseline_equals_a_direct_dtaidistance_1nn():
    from dtaidistance import dtw_ndim

    series, labels = _series()
    args = {"n_way": 3, "k_shot": 1, "episodes": 25, "seed": 4}
    got = dtw_episodes(series, labels, **args)
    assert got.episodes is not None and got.why == ""
    right = total = 0
    for e, (s_idx, s_cls, q_idx, q_cls) in enumerate(sample_episodes(labels, **args)):
        for j, (q, c) in enumerate(zip(q_idx, q_cls, strict=True)):
            d = [dtw_ndim.distance(series[q], series[s]) for s in s_idx]  # the plain Python DTW
            pred = s_cls[int(np.argmin(d))]
            assert got.episodes.pred[e, j] == pred
            right += int(pred == c)
            total += 1
    assert got.episodes.accuracy == pytest.approx(right / total)
    univariate = [x[:, :1] for x in series]
    assert dtw_episodes(univariate, labels, **args).episodes is not None
    assert got.cells == sum(  # the cells it counted: every distinct query-support pair once
        len(series[q]) * len(series[s])
        for q, s in {
            (int(q), int(s))
            for s_idx, _, q_idx, _ in sample_episodes(labels, **args)
            for q in q_idx
            for s in s_idx
        }
    )


def test_dtw_baseline_says_why_it_is_left_out(monkeypatch):
    series, labels = _series()
    args = {"n_way": 3, "k_shot": 1, "episodes": 5, "seed": 0}
    over = dtw_episodes(series, labels, budget=100, **args)
    assert over.episodes is None
    assert re.search(
        r"pairs would cost [\d,]+ DTW cells, over the report's budget of 100", over.why
    )
    monkeypatch.setitem(sys.modules, "dtaidistance", None)
    monkeypatch.setitem(sys.modules, "dtaidistance.dtw", None)
    missing = dtw_episodes(series, labels, **args)
    assert missing.episodes is None
    assert missing.why == "left out: dtaidistance is not installed (pip install dtaidistance)"


def test_traffic_report_has_the_dtw_row_and_convergence(traffic_report, traffic_run):
    text = page_text(traffic_report.read_text(encoding="utf-8"))
    run = RunFolder.read(traffic_run)
    data, _ = load_run_data(run, SiameseModel.load(traffic_run))
    ev = run.evaluation
    items = data.eval_items.load(np.arange(len(data.eval_items)))
    series = unpadded_inputs(data.model, items, data.eval_items.lengths)
    dtw = dtw_episodes(
        series,
        data.eval_items.labels,
        n_way=ev["n_way"],
        k_shot=ev["k_shot"],
        episodes=ev["episodes"],
        seed=run.config["seed"],
    )
    assert (
        f"1-NN DTW on the raw (normalised) inputs {h.fmt(dtw.episodes.accuracy)} DTW, full "
        f"warping (dtaidistance), {dtw.cells:,} cells"
    ) in text
    # Convergence from metrics.jsonl: the best epoch and the seconds up to it.
    best = ev["training"]["best_epoch"]
    total = seconds_until(run.metrics, run.metrics[-1]["epoch"])
    at = seconds_until(run.metrics, best)
    monitor = run.config["training"]["monitor"]
    assert f"the monitored {monitor} was best at epoch {best}, after {at:.1f} s of the " in text
    assert f"{total:.1f} s of training" in text
    last = run.metrics[-1]
    assert f"final training loss (epoch {last['epoch']}) {h.fmt(last['train_loss'])}" in text
    assert f"final validation loss (epoch {last['epoch']}) {h.fmt(last['val_loss'])}" in text
    assert (
        f"test {ev['n_way']}-way accuracy (epoch {run.evaluated_epoch}) {h.fmt(ev['accuracy'])}"
        in text
    )


def test_tar_at_far_from_a_hand_made_evaluation_json(traffic_run, traffic_report, tmp_path):
    assert tar_at_far_table({"accuracy": 0.5}) == ""  # absent: nothing at all
    copy = tmp_path / "tar"
    shutil.copytree(traffic_run, copy)
    ev = json.loads((copy / "evaluation.json").read_text())
    ev["verification"] = {
        "tar_at_far": {"0.1": 0.875, "0.01": 0.5, "0.001": None},
        "pairs": 1200,
        "impostor_pairs": 600,
    }
    (copy / "evaluation.json").write_text(json.dumps(ev))
    text = page_text(build_report(copy).read_text(encoding="utf-8"))
    assert "True accepts at fixed false accepts (test pairs)" in text
    assert (
        "false accept rate (FAR) true accept rate (TAR) 0.1 0.8750 0.01 0.5000 "
        "0.001 too few impostor pairs for this FAR (600 of the 1,000 needed)"
    ) in text
    assert "as evaluation.json records it (1,200 test pairs, 600 of them different-class)" in text
    bare = tmp_path / "bare"  # an evaluation.json without the key (written before TAR@FAR)
    shutil.copytree(traffic_run, bare)
    ev = json.loads((bare / "evaluation.json").read_text())
    ev.pop("verification", None)
    (bare / "evaluation.json").write_text(json.dumps(ev))
    assert "True accepts at fixed false accepts" not in page_text(
        build_report(bare, output=tmp_path / "plain.html").read_text(encoding="utf-8")
    )


def test_pair_reasons_measure_brightness_contrast_and_lengths():
    from siamese.data.labeled_dataset import LabeledDataset

    imgs = np.zeros((4, 1, 4, 4), dtype=np.uint8)
    imgs[0] = 100
    imgs[1] = 160
    imgs[2, :, :2] = 200  # half bright: mean 100, std 100
    imgs[3] = 120
    ds = LabeledDataset(imgs, np.array([0, 0, 1, 1]), ["a", "b"], list("wxyz"), kind="image")
    left, right = np.array([0, 0, 2]), np.array([1, 3, 3])
    m = pair_measures(ds, left, right)
    assert m.medians == {"brightness": 20.0, "contrast": 0.0}  # |differences| 60, 20, 20; 0, 0, 100
    text = pair_reason(m, 0, 1, score=-0.7, threshold=-0.5, head=False)
    assert text == (
        "0.2000 beyond the distance bound 0.5000; brightness 100 vs 160 (difference 60, 3.0x "
        "the median pair's); contrast 0 vs 0 (difference 0)"
    )
    assert pair_reason(m, 0, 1, score=0.9, threshold=0.5, head=True).startswith(
        "probability 0.9000: 0.4000 above the threshold 0.5000"
    )
    series = np.zeros((3, 10, 1))
    series[0, :4, 0] = [1, -1, 1, -1]
    ds = LabeledDataset(
        series,
        np.array([0, 0, 1]),
        ["a", "b"],
        list("xyz"),
        kind="sequence",
        lengths=np.array([4, 10, 6]),
    )
    m = pair_measures(ds, np.array([0, 1]), np.array([1, 2]))
    assert m.values["length"][[0, 1, 2]].tolist() == [4, 10, 6]
    assert m.values["amplitude"][0] == pytest.approx(1.0)  # over its 4 true steps only
    assert "length 4 vs 10 (difference 6, 1.2x the median pair's)" in pair_reason(
        m, 0, 1, -0.1, -0.5, head=False
    )


def test_traffic_examples_carry_their_measured_reason(traffic_report):
    text = page_text(traffic_report.read_text(encoding="utf-8"))
    reasons = re.findall(r"measured: (\S+) (beyond|inside) the distance bound", text)
    assert len(reasons) >= 4
    # Correct "same" calls lie inside the bound, false rejects beyond it.
    same = text[
        text.index("Most confident correct: same class") : text.index(
            "Most confident correct: different"
        )
    ]
    assert "inside the distance bound" in same and "beyond" not in same


@pytest.fixture(scope="module")
def thirty_epochs(tmp_path_factory):
    """A 30-epoch tiny run with a 3-D embedding (one step per epoch)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("thirty")
    extra = [
        "training.epochs=30",
        "training.steps_per_epoch=1",
        "training.val_batches=1",
        "training.early_stopping=false",
        "model.embedding_dim=3",
    ]
    return train_from_config(tiny_config(out, "thirty", extra), report=False).run_dir


def test_thirty_epoch_report_within_budget_and_3d_on_raw_axes(thirty_epochs):
    cpu = time.process_time()
    path = build_report(thirty_epochs)
    seconds = time.process_time() - cpu
    assert seconds <= 10.0, f"{seconds:.1f} CPU-s"
    assert path.stat().st_size <= 15e6
    run = RunFolder.read(thirty_epochs)
    assert sorted(run.snapshots) == list(range(31))
    page = path.read_text(encoding="utf-8")
    view = page_json(page, "v3d-data")
    assert view["method"] == "the embedding's own 3 coordinates" and view["axes"] == ["x", "y", "z"]
    assert len(view["frames"]) == 31 and view["start"] == 30
    box = float((np.asarray(view["hi"]) - np.asarray(view["lo"])).max())
    for e in range(31):  # every frame is the snapshot file itself (to the stored precision)
        assert np.abs(decode_frame(view, e) - run.snapshots[e]).max() <= box / LEVELS
    assert len(page_json(page, "emb-pixels")) == 31


def test_episodes_show_the_distances_behind_each_answer(traffic_report):
    text = page_text(traffic_report.read_text(encoding="utf-8"))
    blocks = re.findall(
        r"predicted (\S+) , true (\S+): (right|wrong) \. Measured: the query's distance to the "
        r"nearest support of each class: (.+?)\.(?!\d)",
        text,
    )
    assert blocks
    for predicted, true, verdict, measured in blocks:
        pairs = [p.rsplit(" ", 1) for p in measured.split(", ")]
        distances = [float(d) for _, d in pairs]
        assert distances == sorted(distances)
        assert pairs[0][0] == predicted  # the nearest class is the answer
        assert (verdict == "right") == (predicted == true)
