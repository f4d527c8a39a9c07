"""N-way K-shot accuracy over random episodes on held-out classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from siamese.errors import DataError
from siamese.evaluation.crowding import crowding_offsets
from siamese.objectives.distances import Distance, get_distance


@dataclass
class OneShotResult:
    """Accuracy over episodes, with a 95% normal-approximation interval."""

    accuracy: float
    ci95: float
    episodes: int
    queries: int
    n_way: int
    k_shot: int

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def sample_episodes(
    labels: np.ndarray,
    *,
    n_way: int,
    k_shot: int,
    episodes: int,
    queries_per_class: int = 1,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Draw episodes: ``(support_idx (n*k,), support_cls (n*k,), query_idx (n*q,), query_cls)``.

    Only classes with at least ``k_shot + queries_per_class`` items take part.

    Raises:
        DataError: fewer than ``n_way`` classes have enough items.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes[counts >= k_shot + queries_per_class]
    if len(eligible) < n_way:
        raise DataError(
            f"{n_way}-way {k_shot}-shot episodes need {n_way} classes with at least "
            f"{k_shot + queries_per_class} items; only {len(eligible)} have that many"
        )
    by_class = {int(c): np.flatnonzero(labels == c) for c in eligible}
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(episodes):
        chosen = rng.choice(eligible, size=n_way, replace=False)
        s_idx, s_cls, q_idx, q_cls = [], [], [], []
        for c in chosen:
            pick = rng.choice(by_class[int(c)], size=k_shot + queries_per_class, replace=False)
            s_idx.append(pick[:k_shot])
            s_cls += [int(c)] * k_shot
            q_idx.append(pick[k_shot:])
            q_cls += [int(c)] * queries_per_class
        out.append((np.concatenate(s_idx), np.array(s_cls), np.concatenate(q_idx), np.array(q_cls)))
    return out


def classify_by_nearest(
    query: torch.Tensor,  # (Q, D)
    support: torch.Tensor,  # (S, D)
    support_cls: np.ndarray,  # (S,)
    distance: Distance,
    rng: np.random.Generator,
    support_offset: np.ndarray | None = None,  # (S,)
) -> np.ndarray:
    """Class of each query's nearest support class (min distance over that class's supports).

    Candidates are visited in a shuffled order and a tie for the nearest class counts as no
    answer (-1): a degenerate model that maps everything to one point scores 0, not 1/N.
    ``support_offset`` is subtracted from every distance to that support first (the crowding
    correction of ``siamese.evaluation.crowding``).
    """
    d = distance.matrix(query, support).numpy()  # (Q, S)
    if support_offset is not None:
        d = d - np.asarray(support_offset, dtype=d.dtype)[None, :]
    classes = np.unique(support_cls)
    classes = classes[rng.permutation(len(classes))]
    per_class = np.stack([d[:, support_cls == c].min(axis=1) for c in classes], axis=1)  # (Q, C)
    best = per_class.min(axis=1, keepdims=True)
    ties = (np.isclose(per_class, best, rtol=0, atol=1e-7)).sum(axis=1) > 1
    pred = classes[per_class.argmin(axis=1)]
    pred[ties] = -1
    return pred


def n_way_k_shot_accuracy(
    embeddings: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    *,
    n_way: int = 5,
    k_shot: int = 1,
    episodes: int = 200,
    queries_per_class: int = 1,
    distance: Distance | str = "euclidean",
    seed: int = 0,
    background: np.ndarray | torch.Tensor | None = None,
    crowding_beta: float = 0.5,
    crowding_k: int = 10,
) -> OneShotResult:
    """Accuracy of nearest-support classification over random N-way K-shot episodes.

    Args:
        embeddings: ``(N, D)`` embeddings of held-out items.
        labels: ``(N,)`` their classes.
        n_way, k_shot: classes per episode and support examples per class.
        episodes: how many episodes to draw.
        queries_per_class: queries per class per episode.
        distance: how embeddings are compared (smaller = closer).
        seed: drives episode sampling and tie shuffling.
        background: ``(M, D)`` embeddings of a background set (the training items, never the
            held-out ones): with it, distances to each support are corrected for crowding by
            ``crowding_beta`` times its mean distance to its ``crowding_k`` nearest background
            items (``siamese.evaluation.crowding``).
    """
    emb = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    dist = get_distance(distance)
    offsets = None
    if background is not None:
        offsets = crowding_offsets(emb, background, dist, beta=crowding_beta, k=crowding_k)
    rng = np.random.default_rng([seed, 1])
    correct = total = 0
    for s_idx, s_cls, q_idx, q_cls in sample_episodes(
        labels,
        n_way=n_way,
        k_shot=k_shot,
        episodes=episodes,
        queries_per_class=queries_per_class,
        seed=seed,
    ):
        offset = None if offsets is None else offsets[s_idx]
        pred = classify_by_nearest(emb[q_idx], emb[s_idx], s_cls, dist, rng, offset)
        correct += int((pred == q_cls).sum())
        total += len(q_cls)
    acc = correct / max(total, 1)
    ci = 1.96 * np.sqrt(acc * (1 - acc) / max(total, 1))
    return OneShotResult(acc, float(ci), episodes, total, n_way, k_shot)
