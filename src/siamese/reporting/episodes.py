"""The test episodes replayed: each query, its support set and the model's answer.

``replay_episodes`` draws the episodes exactly as ``n_way_k_shot_accuracy`` drew them for
``evaluation.json`` (same sampler, same seed, same tie shuffling), so the accuracy of the replay
is the recorded one and the per-class accuracy and confusion matrix are the numbers behind it.
The same episodes then score the baselines (raw features, the untrained encoder).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from siamese.evaluation.one_shot import classify_by_nearest, sample_episodes
from siamese.objectives.distances import get_distance


@dataclass
class Episodes:
    """Replayed episodes (one query per class per episode).

    Attributes:
        support: ``(E, N * K)`` support item positions; ``support_cls`` their classes.
        query: ``(E, N)`` query positions; ``query_cls`` their classes.
        pred: ``(E, N)`` the predicted class of each query (-1: a tie, no answer).
    """

    support: np.ndarray
    support_cls: np.ndarray
    query: np.ndarray
    query_cls: np.ndarray
    pred: np.ndarray

    @property
    def accuracy(self) -> float:
        return float((self.pred == self.query_cls).mean())

    def per_class(self) -> dict[int, tuple[int, int]]:
        """``{class: (right, asked)}`` over every query of that class."""
        out = {}
        for c in np.unique(self.query_cls):
            m = self.query_cls == c
            out[int(c)] = (int((self.pred[m] == c).sum()), int(m.sum()))
        return out

    def confusion(self, classes: np.ndarray) -> np.ndarray:
        """``(C, C + 1)`` counts: row = true class, column = predicted (last column: a tie)."""
        pos = {int(c): i for i, c in enumerate(classes)}
        out = np.zeros((len(classes), len(classes) + 1), dtype=np.int64)
        for t, p in zip(self.query_cls.ravel(), self.pred.ravel(), strict=True):
            out[pos[int(t)], pos.get(int(p), len(classes))] += 1
        return out


def replay_episodes(
    embeddings: np.ndarray,
    labels: np.ndarray,
    distance: str | object,
    *,
    n_way: int,
    k_shot: int,
    episodes: int,
    seed: int,
) -> Episodes:
    """The episodes of ``n_way_k_shot_accuracy(embeddings, labels, ...)``, with every answer."""
    emb = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    dist = get_distance(distance)
    rng = np.random.default_rng([seed, 1])  # as n_way_k_shot_accuracy
    rows = []
    for s_idx, s_cls, q_idx, q_cls in sample_episodes(
        labels, n_way=n_way, k_shot=k_shot, episodes=episodes, seed=seed
    ):
        pred = classify_by_nearest(emb[q_idx], emb[s_idx], s_cls, dist, rng)
        rows.append((s_idx, s_cls, q_idx, q_cls, pred))
    return Episodes(*(np.stack([r[i] for r in rows]) for i in range(5)))


def raw_features(model: object, items: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Items after the model's input normaliser, flattened: the no-learning baseline.

    ``lengths`` (padded series) keeps the padding out of per-series statistics.
    """
    lens = None if lengths is None else torch.as_tensor(np.asarray(lengths))
    with torch.no_grad():
        x = model.normaliser(torch.as_tensor(np.asarray(items, dtype=np.float32)), lens)
    return x.reshape(len(x), -1).numpy()


def untrained_copy(model: object, seed: int) -> object:
    """The same model with freshly initialised weights (the normaliser kept): the baseline of
    an encoder that learned nothing."""
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in fresh.modules():
        if module is not fresh and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    fresh.eval()
    return fresh
