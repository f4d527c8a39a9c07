"""Settings of the tiny LSTM runs on the traffic simulator that several tests train (seconds each),
and the kill-then-resume check they share."""

from __future__ import annotations

import json

import pytest

from siamese.pipeline import train_from_config
from siamese.training import load_config
from siamese.training.trainer import Trainer

TINY_TRAFFIC_MODEL = [
    "data.n_per_pattern=12",
    "data.length=24",
    "model.hidden_size=8",
    "model.num_layers=1",
    "model.embedding_dim=4",
    "model.dense=[8]",
]
TIMING = {"seconds", "train_seconds"}


def tiny_config(tmp_path, name, extra=()):
    """A 3-epoch x 3-step run on the simulator, into ``tmp_path/name``."""
    return load_config(
        None,
        [
            f'name="{name}"',
            f'out_dir="{tmp_path}"',
            *TINY_TRAFFIC_MODEL,
            "training.epochs=3",
            "training.steps_per_epoch=3",
            "training.progress=false",
            "training.val_batches=2",
            "training.patience=10",
            "evaluation.episodes=20",
            "evaluation.val_episodes=10",
            "evaluation.pairs=50",
            "sampling.batch_size=8",
            *extra,
        ],
    )


def run_metrics(run_dir):
    """``metrics.jsonl`` without the timing fields."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def killed_and_resumed(tmp_path, monkeypatch, name, extra=()):
    """Train ``name``, killed during epoch 3, then ``--resume`` it; returns the resumed result."""
    original = Trainer._train_epoch

    def interrupted(self, epoch, bar):
        if epoch == 3:
            raise KeyboardInterrupt  # killed during epoch 3
        return original(self, epoch, bar)

    monkeypatch.setattr(Trainer, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_from_config(tiny_config(tmp_path, name, extra), report=False)
    monkeypatch.setattr(Trainer, "_train_epoch", original)
    assert len(run_metrics(tmp_path / name)) == 3  # epochs 0, 1, 2
    return train_from_config(tiny_config(tmp_path, name, extra), resume=True, report=False)
