"""TAR@FAR (1 - FNMR at a fixed FMR): against an exhaustive search over thresholds, written by the
evaluation into ``evaluation.json["verification"]["tar_at_far"]`` and shown by `siamese evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from siamese.errors import ConfigError, DataError
from siamese.evaluation.verification import tar_at_far


def _exhaustive(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """The best TAR over every threshold (accept score >= t) whose FAR stays at most ``far``."""
    imp, gen = scores[~same], scores[same]
    best = 0.0
    for t in np.concatenate([np.unique(scores), [np.inf]]):
        if (imp >= t).sum() <= np.floor(far * len(imp) + 1e-9):
            best = max(best, float((gen >= t).mean()))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tar_at_far_matches_exhaustive_search(seed):
    rng = np.random.default_rng(seed)
    same = rng.random(2400) < 0.5
    # Rounded scores: many ties between impostors and genuine pairs.
    scores = np.round(np.where(same, rng.normal(1.5, 1, 2400), rng.normal(0, 1, 2400)), 1)
    got = tar_at_far(scores, same)
    assert set(got) == {"0.1", "0.01", "0.001"}
    for key, tar in got.items():
        assert tar == pytest.approx(_exhaustive(scores, same, float(key)))


def test_too_few_impostors_give_null():
    same = np.array([True] * 50 + [False] * 50)  # 50 impostor pairs: FAR 0.01 needs 100
    scores = np.r_[np.linspace(1, 2, 50), np.linspace(0, 1.5, 50)]
    got = tar_at_far(scores, same)
    assert got["0.01"] is None and got["0.001"] is None
    assert got["0.1"] == pytest.approx(_exhaustive(scores, same, 0.1))


def test_separated_scores_accept_every_genuine_pair():
    same = np.array([True] * 1000 + [False] * 1000)
    scores = np.r_[np.full(1000, 0.9), np.linspace(0.0, 0.5, 1000)]
    assert tar_at_far(scores, same) == {"0.1": 1.0, "0.01": 1.0, "0.001": 1.0}


def test_bad_input():
    with pytest.raises(DataError, match="needs both same-class and different-class pairs"):
        tar_at_far(np.ones(5), np.ones(5, bool))
    with pytest.raises(ConfigError, match=r"expected false-accept rates in \(0, 1\), got 1.5"):
        tar_at_far(np.arange(4.0), np.array([1, 0, 1, 0]), fars=(1.5,))


def test_run_evaluation_writes_and_cli_shows_tar_at_far(tmp_path, capsys):
    from tiny_runs import tiny_config

    from siamese.cli.app import main
    from siamese.pipeline import train_from_config

    run = train_from_config(tiny_config(tmp_path, "tar"), report=False).run_dir
    ver = json.loads((run / "evaluation.json").read_text())["verification"]
    assert set(ver["tar_at_far"]) == {"0.1", "0.01", "0.001"}
    assert ver["impostor_pairs"] == 25  # evaluation.pairs = 50, half of them different-class
    assert 0.0 <= ver["tar_at_far"]["0.1"] <= 1.0
    assert ver["tar_at_far"]["0.01"] is None  # 25 impostor pairs cannot measure FAR 0.01
    main(["evaluate", str(run), "--json"])
    shown = json.loads(capsys.readouterr().out)["verification"]
    assert shown["tar_at_far"] == ver["tar_at_far"]
    main(["evaluate", str(run)])
    out = capsys.readouterr().out
    assert "TAR @ FAR 0.1" in out and "under 100 impostor pairs" in out
