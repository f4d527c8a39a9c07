"""Evaluate a model on held-out classes: one-shot accuracy, verification, separation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import DataError
from siamese.evaluation.one_shot import n_way_k_shot_accuracy
from siamese.evaluation.separation import cohens_d
from siamese.evaluation.verification import (
    VerificationEvaluator,
    equal_error_rate,
    roc_auc,
    tar_at_far,
)
from siamese.sampling.pair_generator import PairGenerator

DEFAULT_N_WAY = 5  # evaluation.n_way left out: up to this many classes, as many as there are


def fixed_subset(n: int, max_items: int, seed: int) -> np.ndarray:
    """The same (sorted) subset of at most ``max_items`` positions every time it is asked for."""
    if n <= max_items:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 7]).choice(n, size=max_items, replace=False))


def pair_scores(
    model: Any, embeddings: np.ndarray, labels: np.ndarray, n_pairs: int, seed: int
) -> dict[str, np.ndarray]:
    """Balanced same/different pairs of the given embeddings with their similarity and distance."""
    gen = PairGenerator(labels, pairs_per_batch=n_pairs, steps_per_epoch=1)
    batch = gen.make_batch(np.random.default_rng([seed, 11]))
    a1, p, a2, n = batch.tuples
    left = batch.indices[np.concatenate([a1, a2])]
    right = batch.indices[np.concatenate([p, n])]
    e1, e2 = torch.as_tensor(embeddings[left]), torch.as_tensor(embeddings[right])
    return {
        "left": left,
        "right": right,
        "scores": model.similarity(e1, e2).numpy(),
        "distances": model.distance.pairwise(e1, e2).numpy(),
        "same": np.concatenate([np.ones(len(a1), bool), np.zeros(len(a2), bool)]),
    }


def can_pair(labels: np.ndarray) -> bool:
    _, counts = np.unique(labels, return_counts=True)
    return len(counts) >= 2 and (counts >= 2).any()


def one_shot_metrics(
    embeddings: np.ndarray,
    labels: np.ndarray,
    distance: Any,
    *,
    n_way: int | None,
    k_shot: int,
    episodes: int,
    seed: int,
) -> dict[str, Any]:
    """N-way K-shot accuracy with N capped at the number of classes that have enough items
    (``n_way=None``: up to ``DEFAULT_N_WAY``)."""
    _, counts = np.unique(labels, return_counts=True)
    n = min(n_way or DEFAULT_N_WAY, int((counts >= k_shot + 1).sum()))
    if n < 2:
        return {}
    res = n_way_k_shot_accuracy(
        embeddings, labels, n_way=n, k_shot=k_shot, episodes=episodes, distance=distance, seed=seed
    )
    return {
        "accuracy": res.accuracy,
        "accuracy_ci95": res.ci95,
        "n_way": n,
        "k_shot": k_shot,
        "episodes": episodes,
    }


def evaluate_model(
    model: Any,
    test: LabeledDataset,
    *,
    val: LabeledDataset | None = None,
    n_way: int = 5,
    k_shot: int = 1,
    episodes: int = 300,
    pairs: int = 2000,
    seed: int = 0,
    max_items: int = 5000,
) -> dict[str, Any]:
    """The test-time evaluation written to ``evaluation.json`` and the report.

    The verification threshold is chosen on validation pairs (never on test pairs); without a
    validation split, verification accuracy is left out. ``verification.tar_at_far`` holds the
    true-accept rate of the test pairs at false-accept rates 0.1, 0.01 and 0.001 (``None`` where
    the test has fewer than 1/FAR different-class pairs).
    """
    if len(test) == 0:
        raise DataError("evaluation: the test split is empty; set data.test_fraction > 0")
    idx = fixed_subset(len(test), max_items, seed)
    emb = model.embed_dataset(test.subset(idx))
    labels = test.labels[idx]
    out: dict[str, Any] = {"items": int(len(idx)), "classes": int(len(np.unique(labels)))}
    out.update(
        one_shot_metrics(
            emb, labels, model.distance, n_way=n_way, k_shot=k_shot, episodes=episodes, seed=seed
        )
    )
    if can_pair(labels):
        ps = pair_scores(model, emb, labels, pairs, seed)
        out["auc"] = roc_auc(ps["scores"], ps["same"])
        out["eer"] = equal_error_rate(ps["scores"], ps["same"])
        out["cohens_d"] = cohens_d(ps["distances"][ps["same"]], ps["distances"][~ps["same"]])
        out["verification"] = {
            "tar_at_far": tar_at_far(ps["scores"], ps["same"]),
            "pairs": int(len(ps["same"])),
            "impostor_pairs": int((~ps["same"]).sum()),
        }
        if val is not None and len(val) and can_pair(val.labels):
            vidx = fixed_subset(len(val), max_items, seed)
            vps = pair_scores(
                model, model.embed_dataset(val.subset(vidx)), val.labels[vidx], pairs, seed
            )
            ver = VerificationEvaluator().fit(vps["scores"], vps["same"])
            out["verification_accuracy"] = ver.score(ps["scores"], ps["same"])
            out["threshold"] = ver.threshold_
    return out
