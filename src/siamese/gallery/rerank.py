"""Re-ranking the top-k classes of the vector index with a pair scorer (Koch's L1 + sigmoid head).

The index ranks classes by the embedding distance of their nearest example. A pair scorer
``p(same | a, b)`` (the model's own pair head, or one trained here on frozen embeddings with
``train_pair_head``) can re-order those ``k`` candidates: each candidate class scores
``max p(same | query, example)`` over its enrolled examples, and the candidates are sorted by
``1 - p``. The "unknown" decision stays the index distance against the gallery's threshold, so
re-ranking changes which class a known query gets, never whether it is known.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from siamese.errors import DataError
from siamese.gallery._results import UNKNOWN, Identification, Match
from siamese.gallery.gallery import Gallery
from siamese.objectives.pair_head import PairHead


def train_pair_head(
    embeddings: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int = 300,
    pairs: int = 256,
    learning_rate: float = 0.01,
    seed: int = 0,
) -> PairHead:
    """Fit Koch's pair head ``sigmoid(w . |a - b| + c)`` on balanced pairs of frozen embeddings.

    Args:
        embeddings: ``(N, D)`` embeddings. labels: ``(N,)`` their classes.
        steps: Adam steps; pairs: balanced pairs per step (half same-class).

    Raises:
        DataError: no class has two examples (no same-class pair to learn from).
    """
    from siamese.sampling.pair_generator import PairGenerator

    labels = np.asarray(labels)
    _, counts = np.unique(labels, return_counts=True)
    if len(counts) < 2 or not (counts >= 2).any():
        raise DataError(
            "pair head: needs two classes and a class with at least 2 examples to learn "
            "same-class pairs from; enroll more than one example of some class"
        )
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 17])
    emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
    head = PairHead(emb.shape[1])
    gen = PairGenerator(labels, pairs_per_batch=pairs, steps_per_epoch=1)
    opt = torch.optim.Adam(head.parameters(), lr=learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(steps):
        batch = gen.make_batch(rng)
        a1, p, a2, n = batch.tuples
        left = torch.as_tensor(batch.indices[np.concatenate([a1, a2])])
        right = torch.as_tensor(batch.indices[np.concatenate([p, n])])
        target = torch.cat([torch.ones(len(a1)), torch.zeros(len(a2))])
        opt.zero_grad()
        loss = loss_fn(head(emb[left], emb[right]), target)
        loss.backward()
        opt.step()
    return head.eval()


def rerank(
    gallery: Gallery, queries: np.ndarray, results: list[Identification], scorer: Any
) -> list[Identification]:
    """Re-order each result's matches by ``1 - p(same)`` of ``scorer`` (a ``PairHead`` or a
    model's ``head``) against every enrolled example of each matched class.

    Args:
        gallery: the gallery that produced ``results``.
        queries: ``(Q, D)`` the queries' embeddings.
        results: ``gallery.identify_embeddings(queries, k)``.
        scorer: ``scorer(e1, e2)`` returns same-class logits ``(N,)``.

    Returns:
        The results with their matches re-ordered (distances ``1 - p``) and, for a known
        query, the label of the new first match.
    """
    if len(results) != len(queries):
        raise DataError(f"rerank: {len(queries)} queries but {len(results)} results")
    ids = {name: i for i, name in enumerate(gallery.class_names_)}
    by_class = [np.flatnonzero(gallery.labels_ == c) for c in range(gallery.num_classes)]
    out = []
    with torch.no_grad():
        for q, r in zip(np.asarray(queries, np.float32), results, strict=True):
            rows = [by_class[ids[m.label]] for m in r.matches]
            cand = np.concatenate(rows)  # every example of the k candidate classes
            e = torch.from_numpy(gallery.embeddings_[cand])  # (n, D)
            p = torch.sigmoid(scorer(torch.from_numpy(q).expand(len(cand), -1), e)).numpy()
            bounds = np.cumsum([0] + [len(x) for x in rows])
            best = [float(p[a:b].max()) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            order = sorted(range(len(best)), key=lambda i: (-best[i], i))  # stable on ties
            matches = [Match(r.matches[i].label, 1.0 - best[i]) for i in order]
            label = matches[0].label if r.known else UNKNOWN
            out.append(replace(r, label=label, matches=matches))
    return out
