"""The official Omniglot 20-way one-shot benchmark (Lake et al. 2015): 20 runs, 400 trials.

Each run has 20 support images (one per class) and 20 query images; a query is answered by the
support image the model finds most similar. A tie for the most similar support counts as a miss,
so a degenerate model that maps everything to one point scores 0, not 1/20.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from siamese.data.omniglot import OneShotRun
from siamese.errors import ConfigError, DataError
from siamese.evaluation.crowding import crowding_offsets


@dataclass
class OmniglotRunsResult:
    """Accuracy over the runs' trials.

    Attributes:
        accuracy: correct answers / trials over every run.
        per_run: run name -> accuracy on that run.
        trials: number of queries answered.
        correct: number answered correctly.
        ties: queries whose most similar support was not unique (counted as misses).
        errors_per_run: run name -> number of misses, the figure Lake et al. tabulate.
    """

    accuracy: float
    per_run: dict[str, float]
    trials: int
    correct: int
    ties: int
    errors_per_run: dict[str, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return 1.0 - self.accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "error_rate": self.error_rate,
            "trials": self.trials,
            "correct": self.correct,
            "ties": self.ties,
            "per_run": dict(self.per_run),
            "errors_per_run": dict(self.errors_per_run),
        }


def similarity_matrix(model: Any, query: np.ndarray, support: np.ndarray) -> np.ndarray:
    """``(Q, S)`` similarities (higher = more alike) of every query to every support item.

    Args:
        model: a ``SiameseModel`` (its pair head when it has one, else its distance).
        query: ``(Q, ...)`` raw items; support: ``(S, ...)`` raw items.
    """
    return _similarities(model, model.embed(query), model.embed(support))


def _similarities(model: Any, eq: torch.Tensor, es: torch.Tensor) -> np.ndarray:
    """``similarity_matrix`` from query ``(Q, D)`` and support ``(S, D)`` embeddings."""
    if model.head is None:
        return (-model.distance.matrix(eq, es)).numpy()
    q, s = len(eq), len(es)
    left = eq.repeat_interleave(s, dim=0)  # (Q*S, D)
    right = es.repeat(q, 1)  # (Q*S, D)
    return model.similarity(left, right).reshape(q, s).numpy()


def evaluate_omniglot_runs(
    model: Any,
    runs: Sequence[OneShotRun],
    *,
    atol: float = 1e-7,
    background: np.ndarray | None = None,
    crowding_beta: float = 0.5,
    crowding_k: int = 10,
) -> OmniglotRunsResult:
    """Answer every trial of the runs with ``model`` and score them.

    Args:
        model: a ``SiameseModel`` trained on images of the runs' size and polarity (load the
            runs with ``load_omniglot_runs(path, size=..., invert=...)`` matching training).
        runs: the runs, e.g. the 20 official ones.
        atol: similarities within this of the best count as a tie (a miss).
        background: ``(M, D)`` embeddings of training images: with it (and a model without a
            pair head), each support's distances are corrected for crowding by
            ``crowding_beta`` times its mean distance to its ``crowding_k`` nearest background
            embeddings (``siamese.evaluation.crowding``).

    Returns:
        An ``OmniglotRunsResult``.

    Raises:
        DataError: no runs, or run images whose shape differs from what the model was trained on.
        ConfigError: a background with a pair-head model (its scores are not distances).
    """
    if background is not None and model.head is not None:
        raise ConfigError("crowding correction: needs a distance model, not a pair head")
    if not runs:
        raise DataError(
            "Omniglot runs: no runs given; load them with load_omniglot_runs(all_runs.zip)"
        )
    trained_shape = model.info.get("item_shape")
    per_run: dict[str, float] = {}
    errors: dict[str, int] = {}
    correct = trials = ties = 0
    for run in runs:
        if trained_shape and list(run.query.shape[1:]) != list(trained_shape):
            raise DataError(
                f"Omniglot run {run.name}: images of shape {list(run.query.shape[1:])}, but the model "
                f"was trained on {list(trained_shape)}; load the runs with the training size"
            )
        with torch.inference_mode():
            sim = similarity_matrix(model, run.query, run.support)  # (Q, S)
            if background is not None:
                es = model.embed(run.support).numpy()  # (S, D)
                sim = (
                    sim
                    + crowding_offsets(
                        es, background, model.distance, beta=crowding_beta, k=crowding_k
                    )[None, :]
                )  # similarity = -(distance - offset)
        best = sim.max(axis=1, keepdims=True)  # (Q, 1)
        tied = (np.abs(sim - best) <= atol).sum(axis=1) > 1  # (Q,)
        hit = (sim.argmax(axis=1) == run.answers) & ~tied  # (Q,)
        per_run[run.name] = float(hit.mean())
        errors[run.name] = int((~hit).sum())
        correct += int(hit.sum())
        trials += len(hit)
        ties += int(tied.sum())
    return OmniglotRunsResult(correct / trials, per_run, trials, correct, ties, errors)
