"""Tiny finished runs to build reports from (trained once per test session and worker)."""

from __future__ import annotations

import pytest
from tiny_runs import TINY_TRAFFIC_MODEL

from siamese.pipeline import train_from_config
from siamese.training import load_config

TINY_TRAFFIC = [
    *TINY_TRAFFIC_MODEL,
    "training.epochs=2",
    "training.steps_per_epoch=3",
    "training.progress=false",
    "training.val_batches=2",
    "evaluation.episodes=20",
    "evaluation.val_episodes=10",
    "evaluation.pairs=50",
    "sampling.batch_size=8",
]


def tiny_traffic_overrides(out_dir, name: str) -> list[str]:
    """``--set`` overrides of a tiny LSTM run on the traffic simulator (seconds to train)."""
    return [f'name="{name}"', f'out_dir="{out_dir}"', *TINY_TRAFFIC]


@pytest.fixture(scope="session")
def traffic_run(tmp_path_factory):
    """A finished 2-epoch tiny LSTM run on the traffic simulator, without its report yet."""
    out = tmp_path_factory.mktemp("report_runs")
    cfg = load_config(None, tiny_traffic_overrides(out, "traffic"))
    return train_from_config(cfg, report=False).run_dir


@pytest.fixture(scope="session")
def traffic_report(traffic_run):
    """The traffic run's report, written by the `siamese report` command."""
    from siamese.cli.app import main

    out = traffic_run / "page" / "report.html"
    main(["report", str(traffic_run), "--output", str(out)])  # returns normally: exit code 0
    return out
