"""The report's statements checked against the run's own files, for runs of each kind.

Each run is a real tiny training run (seconds); its report is built from the folder and the
sentences that used to be wrong (issue 18) are compared with config.json, dataset.json,
evaluation.json and metrics.jsonl.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from report_pages import page_json
from tiny_runs import tiny_config

from siamese.pipeline import train_from_config
from siamese.reporting import build_report
from siamese.reporting import html as h
from siamese.reporting.figures_curves import loss_figure, wide_scale
from siamese.reporting.run_folder import RunFolder
from siamese.training import load_config


def _text(page_path) -> str:
    """The report as plain text: no images, no tags, entities decoded, whitespace collapsed."""
    page = page_path.read_text(encoding="utf-8")
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "IMG", page)
    page = re.sub(r"<script.*?</script>|<style.*?</style>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _files(run_dir):
    read = lambda n: json.loads((run_dir / n).read_text())  # noqa: E731
    return read("config.json"), read("dataset.json"), read("evaluation.json")


def _collapse_settings() -> list[str]:
    """The COLLAPSING overrides of tests/training/test_collapse.py (one definition of them)."""
    path = Path(__file__).parents[1] / "training" / "test_collapse.py"
    spec = importlib.util.spec_from_file_location("_collapse_settings", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.COLLAPSING


def _train(tmp_path_factory, name, extra):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp(name)
    run_dir = train_from_config(tiny_config(out, name, extra), report=False).run_dir
    return run_dir, _text(build_report(run_dir))


@pytest.fixture(scope="module")
def capped_run(tmp_path_factory):
    """P x K with P = 8 on 4 training classes, n_way left out (up to 5) on 2 test classes;
    batch-hard mining.

    With this seed the validation loss never beats the untrained model: best epoch 0.
    """
    extra = [
        'sampling.kind="pk"',
        "sampling.p=8",
        "sampling.k=4",
        'mining.strategy="batch_hard"',
    ]
    return _train(tmp_path_factory, "capped", extra)


@pytest.fixture(scope="module")
def noval_run(tmp_path_factory):
    return _train(tmp_path_factory, "noval", ["data.val_fraction=0.0"])


@pytest.fixture(scope="module")
def scheduled_run(tmp_path_factory):
    return _train(tmp_path_factory, "scheduled", ['mining.strategy="sigmoid"'])


def test_capped_n_way_and_p_are_the_ones_used(capped_run):
    run_dir, text = capped_run
    cfg, ds, ev = _files(run_dir)
    n_way, train_classes = ev["n_way"], ds["splits"]["train"]["classes"]
    assert cfg["evaluation"]["n_way"] is None and n_way == ds["splits"]["test"]["classes"] < 5
    assert train_classes < cfg["sampling"]["p"]
    assert f"{n_way}-way {ev['k_shot']}-shot accuracy" in text  # the headline tile
    assert f"evaluation {n_way}-way {ev['k_shot']}-shot" in text  # the setup table
    assert "5-way" not in text  # the default's upper bound never as a label
    # Validation episodes take the classes there are the same way (the trainer's fixed subset).
    val_classes = ds["splits"]["val"]["classes"]
    assert val_classes < 5
    assert f"val {val_classes}-way accuracy" in text  # the per-epoch table's column
    assert (
        f"P x K = {train_classes} classes x {cfg['sampling']['k']} items "
        f"(P = {cfg['sampling']['p']} configured, capped at the {train_classes} training classes)"
    ) in text
    # An online miner is chosen inside each batch, not "re-mined every epoch".
    assert "batch_hard: online, chosen inside every training batch" in text
    assert "re-mined" not in text


def test_best_epoch_0_says_the_last_epoch_was_evaluated(capped_run):
    run_dir, text = capped_run
    cfg, _, ev = _files(run_dir)
    assert cfg["training"]["restore_best"] and ev["training"]["best_epoch"] == 0
    last = ev["training"]["epochs_run"]
    assert RunFolder.read(run_dir).evaluated_epoch == last
    assert "restore best weights: not done: the best epoch was 0 (before training)" in text
    assert f"the last epoch's weights (epoch {last}) are evaluated" in text
    assert "restore best weights: yes" not in text
    assert f"evaluated epoch (whose weights were saved) {last}" in text
    # The embedding view opens on that epoch.
    page = (run_dir / "report.html").read_text()
    slider = re.search(r'id="emb-range" min="0" max="(\d+)" value="(\d+)"', page)
    assert slider is not None and int(slider.group(2)) == last  # one frame per epoch 0..last
    assert f"opens on epoch {last}, the evaluated one" in text


def test_distance_threshold_is_printed_as_a_distance(capped_run):
    run_dir, text = capped_run
    _, _, ev = _files(run_dir)
    assert ev["threshold"] < 0  # a similarity = minus the distance
    model = json.loads((run_dir / "model.json").read_text())
    rule = f"{model['distance'].replace('_', ' ')} distance ≤ {h.fmt(-ev['threshold'])}"
    assert f"A pair is called same when its {rule}; that threshold was chosen on validation" in text
    assert "a similarity" not in text and h.fmt(ev["threshold"]) not in text


def test_training_and_validation_losses_are_named_apart(capped_run, scheduled_run):
    for (_, text), mined in [(capped_run, "batch_hard"), (scheduled_run, "sigmoid")]:
        assert f"training loss ({mined}-mined triplets of the training batches)" in text
        assert "validation loss (random triplets of the validation classes)" in text
        assert "The two loss curves are different quantities" in text


def test_scheduled_mining_is_described_as_configured(scheduled_run):
    run_dir, text = scheduled_run
    cfg, _, _ = _files(run_dir)
    mn = cfg["mining"]
    assert (
        f"sigmoid schedule (threshold {mn['threshold']}, growth {mn['growth']}, "
        f"midpoint {mn['midpoint']}, cycles {mn['cycles']}), offline: candidates re-mined "
        "once per epoch"
    ) in text
    assert 'alt="hardness schedule and achieved hardness"' in (run_dir / "report.html").read_text()
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for m in metrics[1:]:  # the per-epoch table carries the scheduled and achieved hardness
        assert f"{h.fmt(m['hardness_target'])} {h.fmt(m['hardness_achieved'])}" in text


def test_run_without_validation(noval_run):
    run_dir, text = noval_run
    cfg, ds, ev = _files(run_dir)
    assert "val" not in ds["splits"] or ds["splits"]["val"]["items"] == 0
    assert "threshold" not in ev and ev["training"]["best_epoch"] is None
    assert "no validation split to choose a threshold on" in text
    assert "was chosen on validation" not in text and "a similarity" not in text
    assert "early stopping needs a validation split" in text
    assert "restore best weights: yes" not in text
    # No snapshots over time, but the test classes are still shown in the evaluated model.
    page = (run_dir / "report.html").read_text()
    assert 'id="emb-range"' not in page
    last = ev["training"]["epochs_run"]
    # The 3-D view still shows the test items of the evaluated model (one frame, no play).
    view = page_json(page, "v3d-data")
    assert len(view["frames"]) == 1 and view["hover"] == "test-hover"
    assert view["frames"][0]["label"] == f"epoch {last} (evaluated), test items"
    assert len(view["points"]) == len(page_json(page, "test-hover")["items"]) == ev["items"]
    assert '<button type="button" disabled>play</button>' in page
    assert f"Never-seen test classes in the evaluated model (epoch {last})" in text
    assert f"{ev['items']} test items (classes never trained on)" in text
    assert "The loss curve is the training loss (random triplets of the training classes)" in text


def test_collapsed_run_report_says_collapsed(tmp_path):
    from siamese.errors import TrainingFailed

    COLLAPSING = _collapse_settings()

    torch.set_num_threads(1)
    cfg = load_config(
        None, [f'out_dir="{tmp_path}"', 'name="dead"', 'training.on_collapse="warn"', *COLLAPSING]
    )
    with pytest.warns(UserWarning), pytest.raises(TrainingFailed):
        train_from_config(cfg)
    run_dir = tmp_path / "dead"
    text = _text(run_dir / "report.html")  # written by training before it raised
    collapse = json.loads((run_dir / "evaluation.json").read_text())["training"]["collapse"]
    assert collapse["state"] == "collapsed"
    last = collapse["epochs"][-1]
    assert f"epoch {last}" in text and "collapse" in text.lower()
    for reason in collapse["reasons"][str(last)]:
        assert reason in text


def test_protocol_split_shows_both_splits_of_each_class(shared_data, tmp_path):
    torch.set_num_threads(1)
    cfg = load_config(
        None,
        [
            f'out_dir="{tmp_path}"',
            'name="gunpoint"',
            'data.source="ucr"',
            f'data.path="{shared_data / "ucr" / "GunPoint"}"',
            'data.split="protocol"',
            'model.encoder="conv1d"',
            "model.channels=[8]",
            "model.kernels=[5]",
            "model.embedding_dim=4",
            "training.epochs=1",
            "training.steps_per_epoch=2",
            "training.progress=false",
            "training.val_batches=1",
            "evaluation.episodes=10",
            "evaluation.pairs=30",
            'sampling.kind="pk"',
            "sampling.p=2",
            "sampling.k=4",
        ],
    )
    run_dir = train_from_config(cfg, report=False).run_dir
    text = _text(build_report(run_dir))
    from siamese.reporting.run_data import load_run_data
    from siamese.reporting.sections_setup import class_split_counts

    run = RunFolder.read(run_dir)
    from siamese.model import SiameseModel

    data, _ = load_run_data(run, SiameseModel.load(run_dir))
    names, per_split = class_split_counts(data)
    assert per_split["train"].all() and per_split["test"].all()  # every class in both
    total = sum(per_split.values())
    assert np.array_equal(total, np.bincount(data.dataset.labels)[np.unique(data.dataset.labels)])
    assert "items held out of the training classes" in text
    assert f"split protocol {run.dataset['split']}" in text


def test_loss_scale_survives_a_zero_loss():
    assert wide_scale(np.array([1.0, 0.1, 0.001])) == ("log", {})
    assert wide_scale(np.array([1.0, 0.1, 0.0])) is None  # 10x among the positive ones
    assert wide_scale(np.array([1.0, 0.01, 0.0])) == ("symlog", {"linthresh": 0.01})
    metrics = [
        {"epoch": 0, "val_loss": 0.5},
        {"epoch": 1, "train_loss": 0.4, "val_loss": 0.0},
        {"epoch": 2, "train_loss": 0.001, "val_loss": 0.0},
    ]
    assert loss_figure(metrics, "triplet").startswith("data:image/png;base64,")


def test_task_section_replays_the_recorded_episodes(capped_run, tmp_path):
    run_dir, text = capped_run
    _, _, ev = _files(run_dir)
    from siamese.model import SiameseModel
    from siamese.reporting.episodes import replay_episodes
    from siamese.reporting.run_data import load_run_data

    run = RunFolder.read(run_dir)
    data, _ = load_run_data(run, SiameseModel.load(run_dir))
    eps = replay_episodes(
        data.embeddings,
        data.eval_items.labels,
        data.model.distance,
        n_way=ev["n_way"],
        k_shot=ev["k_shot"],
        episodes=ev["episodes"],
        seed=run.config["seed"],
    )
    assert eps.accuracy == pytest.approx(ev["accuracy"], abs=1e-12)  # the recorded episodes
    assert eps.query.shape == (ev["episodes"], ev["n_way"])
    per = eps.per_class()
    assert sum(r for r, _ in per.values()) == round(ev["accuracy"] * eps.query.size)
    names = data.eval_items.class_names
    for c, (r, a) in per.items():
        assert f"{names[c]} {h.fmt(r / a)} {r} {a}" in text  # the per-class table
    confusion = eps.confusion(np.array(sorted(per)))
    assert confusion.sum() == eps.query.size and np.trace(confusion) == sum(
        r for r, _ in per.values()
    )
    assert f"the trained model {h.fmt(ev['accuracy'])}" in text
    assert "1-NN on the raw (normalised) inputs" in text and "the same encoder, untrained" in text
    assert f"chance {h.fmt(1 / ev['n_way'])}" in text
    assert "predicted" in text and ("right" in text or "wrong" in text)
    assert "1-NN against the TRAIN items" not in text  # not recorded by this run
    # When evaluation.json carries the 1-NN-vs-TRAIN figure, the baselines show it.
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    ev["gallery_1nn_accuracy"] = 0.625
    (copy / "evaluation.json").write_text(json.dumps(ev))
    assert "1-NN against the TRAIN items (evaluation.json) 0.6250" in _text(build_report(copy))


def test_demo_run_shows_its_result_and_explains_its_embedding(tmp_path_factory):
    """A demo-like run (the LSTM with fixed features) and a demo.json as `siamese demo` writes it."""
    from siamese.pipeline.demo import SEEN, UNSEEN, DemoResult

    run_dir, _ = _train(tmp_path_factory, "demo", ["model.fixed_features=0.7"])
    model = json.loads((run_dir / "model.json").read_text())
    learned, dim = model["encoder"]["args"]["embedding_dim"], model["embedding_dim"]
    assert dim > learned
    per = {p: round(0.5 + 0.05 * i, 3) for i, p in enumerate((*SEEN, *UNSEEN))}
    plain = {p: round(v - 0.1, 3) for p, v in per.items()}
    demo = DemoResult(
        str(run_dir), 0.9, 0.8, 500, 300, 10, per, 0.95, 0.7, plain, {"beta": 0.5, "k": 10}
    )
    (run_dir / "demo.json").write_text(json.dumps(demo.__dict__))
    text = _text(build_report(run_dir))
    assert "The demo's result" in text
    train = set(json.loads((run_dir / "model.json").read_text())["info"]["split_classes"]["train"])
    for p in per:
        seen = "seen in training" if p in train else "never seen"
        assert f"{p} {seen} {h.fmt(per[p])} {h.fmt(plain[p])}" in text
    assert f"never-seen patterns, corrected {h.fmt(0.8)}" in text
    channels = model["info"]["item_shape"][-1]
    assert (
        f"The embedding has {dim} dimensions: {learned} learned by the encoder and "
        f"{dim - learned} fixed (never trained) features of the input joined to them "
        f"({(dim - learned) // channels} per channel for its {channels} channels"
    ) in text


def test_online_scheduled_mining_is_described_and_plotted(tmp_path_factory):
    """strategy = "scheduled": the schedule applied inside each P x K batch (online)."""
    extra = ['sampling.kind="pk"', "sampling.p=4", "sampling.k=4", 'mining.strategy="scheduled"']
    run_dir, text = _train(tmp_path_factory, "online_scheduled", extra)
    cfg, _, _ = _files(run_dir)
    mn = cfg["mining"]
    assert (
        "scheduled: online, chosen inside every training batch from the model as it is (target "
        f"hardness on a {mn['schedule']} schedule: threshold {mn['threshold']}, growth "
        f"{mn['growth']}, midpoint {mn['midpoint']}, cycles {mn['cycles']})"
    ) in text
    assert "training loss (scheduled-mined triplets of the training batches)" in text
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(m.get("hardness_target") is not None for m in metrics[1:])
    assert 'alt="hardness schedule and achieved hardness"' in (run_dir / "report.html").read_text()
    for m in metrics[1:]:
        assert f"{h.fmt(m['hardness_target'])} {h.fmt(m['hardness_achieved'])}" in text
