"""Tiny trained runs for the compression tests (seconds each): every encoder, every option on."""

from __future__ import annotations

import json

import pytest
from test_export_every_option import ALL_ON, _data

from siamese.pipeline import train_from_config
from siamese.training import load_config


def train_tiny(folder, name: str, *, head: bool = True, model: dict | None = None):
    """A run of ``name`` trained 1 epoch x 2 steps on a tiny real file of its kind."""
    args = [f"model.{k}={json.dumps(v)}" for k, v in {**ALL_ON[name], **(model or {})}.items()]
    objective = ['objective.name="koch_bce"', 'sampling.kind="pairs"'] if head else []
    cfg = load_config(None, [
        f'name="{name}"', f'out_dir="{folder}"', f'model.encoder="{name}"', *args,
        *_data(name, folder), "data.val_fraction=0.25", "data.test_fraction=0.25", *objective,
        "sampling.batch_size=6", "training.epochs=1", "training.steps_per_epoch=2",
        "training.val_batches=1", "training.progress=false", "evaluation.episodes=4",
        "evaluation.val_episodes=4", "evaluation.pairs=10",
    ])  # fmt: skip
    train_from_config(cfg, report=False)
    return folder / name


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """``tiny_run(name, head=True, model=None)``: a trained tiny run folder (cached per module)."""
    runs = {}

    def get(name: str, head: bool = True, model: dict | None = None):
        key = (name, head, json.dumps(model, sort_keys=True))
        if key not in runs:
            runs[key] = train_tiny(tmp_path_factory.mktemp(name), name, head=head, model=model)
        return runs[key]

    return get
