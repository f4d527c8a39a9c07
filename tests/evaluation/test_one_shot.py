"""N-way K-shot accuracy and verification metrics."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.evaluation import (
    VerificationEvaluator,
    cohens_d,
    equal_error_rate,
    n_way_k_shot_accuracy,
    roc_auc,
)


def test_perfect_embedding_scores_one():
    labels = np.repeat(np.arange(10), 3)
    emb = np.eye(10)[labels] * 10 + np.random.default_rng(0).normal(0, 0.01, (30, 10))
    res = n_way_k_shot_accuracy(emb, labels, n_way=5, k_shot=1, episodes=50)
    assert res.accuracy == 1.0 and res.queries == 250


def test_collapsed_embedding_scores_zero_not_chance():
    labels = np.repeat(np.arange(10), 3)
    res = n_way_k_shot_accuracy(np.zeros((30, 4)), labels, n_way=5, k_shot=1, episodes=50)
    assert res.accuracy == 0.0  # every candidate ties: a tie is a miss


def test_random_embedding_is_near_chance():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(40), 5)
    res = n_way_k_shot_accuracy(rng.normal(size=(200, 8)), labels, n_way=5, episodes=400)
    assert 0.13 < res.accuracy < 0.27


def test_verification_threshold_and_metrics():
    same = np.array([1, 1, 1, 0, 0, 0], bool)
    scores = np.array([0.9, 0.8, 0.4, 0.3, 0.5, 0.1])
    ver = VerificationEvaluator().fit(scores, same)
    assert ver.score(scores, same) == pytest.approx(5 / 6)
    assert roc_auc(scores, same) == pytest.approx(8 / 9)
    assert 0 < equal_error_rate(scores, same) < 0.5
    assert cohens_d(np.array([0.1, 0.2, 0.15]), np.array([0.9, 1.0, 0.95])) > 5
