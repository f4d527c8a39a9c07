"""The official-runs evaluator: accuracy per run, ties count as misses, size mismatch errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from siamese.data.omniglot import OneShotRun, load_omniglot_runs
from siamese.errors import DataError
from siamese.evaluation.omniglot_runs import evaluate_omniglot_runs
from siamese.model import SiameseModel


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float()


class Constant(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(x), 3)


def _run(name: str, n: int = 5, seed: int = 0) -> OneShotRun:
    rng = np.random.default_rng(seed)
    support = rng.integers(0, 256, size=(n, 1, 4, 4), dtype=np.uint8)
    order = rng.permutation(n)
    return OneShotRun(
        name, support, [f"class{i}" for i in range(n)], support[order].copy(), order, []
    )


def test_identical_query_images_are_all_found():
    model = SiameseModel(Flatten(), distance="euclidean", info={"item_shape": [1, 4, 4]})
    res = evaluate_omniglot_runs(model, [_run("run01"), _run("run02", seed=1)])
    assert res.accuracy == 1.0 and res.trials == 10 and res.ties == 0
    assert res.per_run == {"run01": 1.0, "run02": 1.0} and res.errors_per_run["run01"] == 0


def test_a_collapsed_model_scores_zero_because_ties_are_misses():
    res = evaluate_omniglot_runs(SiameseModel(Constant()), [_run("run01")])
    assert res.accuracy == 0.0 and res.ties == 5 and res.to_dict()["error_rate"] == 1.0


def test_wrong_image_size_and_no_runs_are_errors():
    model = SiameseModel(Flatten(), info={"item_shape": [1, 28, 28]})
    with pytest.raises(
        DataError,
        match="run01: images of shape \\[1, 4, 4\\], but the model was trained on \\[1, 28, 28\\]",
    ):
        evaluate_omniglot_runs(model, [_run("run01")])
    with pytest.raises(DataError, match="no runs given"):
        evaluate_omniglot_runs(model, [])


def test_pixel_nearest_neighbour_on_the_official_runs(shared_data):
    runs = load_omniglot_runs(shared_data / "omniglot" / "all_runs.zip", size=28)
    model = SiameseModel(Flatten(), distance="euclidean", info={"item_shape": [1, 28, 28]})
    res = evaluate_omniglot_runs(model, runs)
    assert res.trials == 400 and len(res.per_run) == 20
    assert 0.1 < res.accuracy < 0.6  # raw pixels: far above chance (0.05), far below people
