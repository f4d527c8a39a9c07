"""Training end to end on the simulator: resume equals an uninterrupted run; run folder contents."""

from __future__ import annotations

import pytest
from tiny_runs import killed_and_resumed, run_metrics, tiny_config

from siamese.errors import ConfigError
from siamese.model import SiameseModel
from siamese.pipeline import train_from_config


def _cfg(tmp_path, name, extra=()):
    return tiny_config(tmp_path, name, extra)


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, monkeypatch):
    full = train_from_config(_cfg(tmp_path, "full"), report=False)
    resumed = killed_and_resumed(tmp_path, monkeypatch, "killed")
    assert run_metrics(tmp_path / "killed") == run_metrics(tmp_path / "full")
    a = {k: v for k, v in full.evaluation.items() if k not in ("seconds", "training")}
    b = {k: v for k, v in resumed.evaluation.items() if k not in ("seconds", "training")}
    assert a == b


def test_run_folder_contents(tmp_path):
    r = train_from_config(_cfg(tmp_path, "contents"), report=False)
    names = {p.name for p in r.run_dir.iterdir()}
    assert {
        "model.json",
        "model.safetensors",
        "metrics.jsonl",
        "config.json",
        "evaluation.json",
        "dataset.json",
        "checkpoints",
        "snapshots",
    } <= names
    m = SiameseModel.load(r.run_dir)
    assert m.info["kind"] == "sequence" and m.info["item_shape"] == [24, 5]
    lines = run_metrics(r.run_dir)
    assert [x["epoch"] for x in lines] == [0, 1, 2, 3]
    assert all("val_accuracy" in x and "val_loss" in x for x in lines)
    assert {"accuracy", "auc", "eer", "verification_accuracy", "cohens_d"} <= set(r.evaluation)


def test_existing_run_needs_resume_or_overwrite(tmp_path):
    train_from_config(_cfg(tmp_path, "again", ["training.epochs=1"]), report=False)
    with pytest.raises(ConfigError, match="already exists; pass --resume"):
        train_from_config(_cfg(tmp_path, "again", ["training.epochs=1"]), report=False)


def test_early_stopping_stops_and_restores_best(tmp_path):
    r = train_from_config(
        _cfg(
            tmp_path, "es", ["training.epochs=8", "training.patience=1", "training.min_delta=10.0"]
        ),
        report=False,
    )
    assert r.evaluation["training"]["stopped_reason"] == "early_stopping"
    assert r.evaluation["training"]["epochs_run"] == 1


@pytest.mark.parametrize(
    "objective,kind",
    [
        ("koch_bce", "pairs"),
        ("contrastive", "pairs"),
        ("lossless_triplet", "triplets"),
        ("triplet", "pk"),
    ],
)
def test_every_objective_trains(tmp_path, objective, kind):
    extra = [
        f'objective.name="{objective}"',
        f'sampling.kind="{kind}"',
        "training.epochs=1",
        "sampling.p=4",
        "sampling.k=3",
    ]
    if objective == "lossless_triplet":
        extra.append('model.output_activation="sigmoid"')
    r = train_from_config(_cfg(tmp_path, objective, extra), report=False)
    assert r.history[-1]["train_loss"] is not None
    assert (r.model.head is not None) == (objective == "koch_bce")
