"""The scheduled online miner against an exhaustive search, its progress, restart and resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_runs import killed_and_resumed, run_metrics, tiny_config

from siamese.errors import ConfigError
from siamese.mining import ScheduledMiner, create_online_miner, create_schedule
from siamese.objectives import Cosine, Euclidean, SquaredEuclidean
from siamese.pipeline import train_from_config
from siamese.training.config import load_config
from siamese.training.run import build_miner

LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 4, 5, 6, 6, 7])  # 5, 7: single


def _batch(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(len(LABELS), 5, generator=g, dtype=torch.float64)


def _brute(e: torch.Tensor, y: torch.Tensor, dist, target: float) -> dict:
    """Every anchor with a positive and a negative: farthest positive, negative nearest the
    target hardness (first on ties), found by scanning every item."""
    d = dist.matrix(e, e).tolist()
    out = {}
    for a in range(len(y)):
        pos = [p for p in range(len(y)) if p != a and y[p] == y[a]]
        neg = [n for n in range(len(y)) if y[n] != y[a]]
        if not pos or not neg:
            continue
        p = max(pos, key=lambda j: d[a][j])
        lo, hi = min(d[a][j] for j in neg), max(d[a][j] for j in neg)
        best, best_gap, best_h = None, float("inf"), None
        for n in neg:
            h = (hi - d[a][n]) / (hi - lo) if hi > lo else 1.0
            if abs(h - target) < best_gap:
                best, best_gap, best_h = n, abs(h - target), h
        out[a] = (p, best, best_h)
    return out


def _as_set(triplets) -> set:
    return set(zip(*(t.tolist() for t in triplets), strict=True))


def _linear_miner(dist, threshold: float = 1.0) -> ScheduledMiner:
    return ScheduledMiner(create_schedule("linear", threshold=threshold), distance=dist)


@pytest.mark.parametrize("dist", [Euclidean(), SquaredEuclidean(), Cosine()])
@pytest.mark.parametrize("step", [0, 3, 5, 7, 10])
def test_negatives_match_exhaustive_search(dist, step: int) -> None:
    miner = _linear_miner(dist)
    miner.set_progress(step, 11)  # linear to 1: target = step / 10
    for seed in range(3):
        e = _batch(seed)
        a, p, n = miner.mine(e, LABELS)
        assert a.dtype == torch.long and len(a) == len(p) == len(n)
        want = _brute(e, LABELS, dist, step / 10)
        assert a.tolist() == sorted(want)  # every anchor that can form a triplet, once
        assert [(pi, ni) for pi, ni, _ in want.values()] == list(
            zip(p.tolist(), n.tolist(), strict=True)
        )
        np.testing.assert_allclose(miner.last_achieved, [h for *_, h in want.values()])
        target, achieved = miner.last_hardness
        assert np.allclose(target, step / 10) and len(achieved) == len(a)


@pytest.mark.parametrize("dist", [Euclidean(), Cosine()])
def test_hardness_one_is_batch_hard_and_counts_are_equal(dist) -> None:
    e = _batch(1)
    miner = _linear_miner(dist)
    miner.set_progress(9, 10)  # the last step: target 1
    got = _as_set(miner.mine(e, LABELS))
    ref = _as_set(create_online_miner("batch_hard", distance=dist).mine(e, LABELS))
    assert got == ref and len(got) == 16  # one per anchor: 18 items, 2 without a positive
    miner.set_progress(0, 10)  # target 0: every anchor's farthest negative
    a, _, n = miner.mine(e, LABELS)
    d = dist.matrix(e, e)
    for ai, ni in zip(a.tolist(), n.tolist(), strict=True):
        assert d[ai, ni] == d[ai][LABELS[ai] != LABELS].max()
    assert np.allclose(miner.last_achieved, 0.0)


def test_progress_restart_and_resume() -> None:
    miner = ScheduledMiner(create_schedule("linear", threshold=0.8))
    with pytest.raises(ConfigError, match=r"call set_progress\(step, total_steps\) before mine"):
        miner.mine(_batch(), LABELS)
    miner.set_progress(0, 101)
    assert miner.target() == 0.0
    miner.set_progress(50, 101)
    assert miner.target() == pytest.approx(0.4)
    miner.restart(50)  # collapse recovery at step 50: easy again, rising over steps 50..100
    assert miner.target() == 0.0
    miner.set_progress(75, 101)
    assert miner.target() == pytest.approx(0.4)
    miner.set_progress(100, 101)
    assert miner.target() == pytest.approx(0.8)
    state = miner.state_dict()
    resumed = ScheduledMiner(create_schedule("linear", threshold=0.8))
    resumed.load_state_dict(state)
    assert resumed.target() == miner.target() and resumed.restart_step == 50
    resumed.set_progress(75, 101)
    assert resumed.target() == pytest.approx(0.4)
    other = ScheduledMiner(create_schedule("sigmoid", threshold=0.8))
    with pytest.raises(ConfigError, match="mined with schedule 'linear'.*uses 'sigmoid'"):
        other.load_state_dict(state)
    with pytest.raises(ConfigError, match="expected step >= 0 and total_steps >= 1"):
        miner.set_progress(0, 0)


def test_config_builds_the_miner_and_rejects_bad_schedules() -> None:
    cfg = load_config(
        None,
        [
            'mining.strategy="scheduled"',
            'mining.schedule="cyclic_sigmoid"',
            "mining.threshold=0.9",
            "mining.cycles=2",
        ],
    )

    class Objective:
        distance = SquaredEuclidean()

    miner = build_miner(cfg, Objective())
    assert isinstance(miner, ScheduledMiner) and miner.schedule.name == "cyclic_sigmoid"
    assert miner.schedule.params["threshold"] == 0.9 and miner.schedule.params["cycles"] == 2
    assert isinstance(miner.distance, SquaredEuclidean)
    with pytest.raises(
        ConfigError,
        match="config key 'mining.schedule': expected one of linear, .*cyclic_sigmoid, got 'exp'",
    ):
        load_config(None, ['mining.strategy="scheduled"', 'mining.schedule="exp"'])
    with pytest.raises(ConfigError, match="'mining.strategy': expected one of none, .*scheduled"):
        load_config(None, ['mining.strategy="schedule"'])


SCHEDULED = [
    'sampling.kind="pk"',
    "sampling.p=3",
    "sampling.k=4",
    'objective.name="triplet"',
    'mining.strategy="scheduled"',
    'mining.schedule="linear"',
    "mining.threshold=1.0",
]


def test_training_records_target_and_achieved_hardness_and_resumes_exactly(
    tmp_path, monkeypatch
) -> None:
    full = train_from_config(tiny_config(tmp_path, "full", SCHEDULED), report=False)
    lines = run_metrics(full.run_dir)
    # 3 epochs x 3 steps, linear 0 -> 1 over steps 0..8: epoch means 1/8, 4/8, 7/8
    assert [x.get("hardness_target") for x in lines[1:]] == pytest.approx([0.125, 0.5, 0.875])
    achieved = [x["hardness_achieved"] for x in lines[1:]]
    assert achieved == sorted(achieved) and all(0 <= h <= 1 for h in achieved)
    killed_and_resumed(tmp_path, monkeypatch, "killed", SCHEDULED)
    assert run_metrics(tmp_path / "killed") == lines
