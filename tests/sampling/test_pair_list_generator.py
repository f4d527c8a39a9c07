"""PairListGenerator: the listed pairs, each exactly once per epoch (checked pair by pair)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from siamese.errors import DataError
from siamese.sampling import PairListGenerator


def _pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 3])
    i = np.array([0, 2, 4, 4, 0, 1, 3, 7, 5, 6, 2])
    j = np.array([1, 3, 5, 6, 2, 7, 4, 6, 6, 0, 7])
    return labels, i, j, labels[i] == labels[j]


def _dataset_pairs(gen: PairListGenerator, batch) -> list[tuple[int, int, bool]]:
    """The batch's pairs as (dataset item, dataset item, same), from its local tuples."""
    a1, p, a2, n = batch.tuples
    idx = batch.indices
    return [(int(idx[x]), int(idx[y]), True) for x, y in zip(a1, p, strict=True)] + [
        (int(idx[x]), int(idx[y]), False) for x, y in zip(a2, n, strict=True)
    ]


@pytest.mark.parametrize("batch", [1, 3, 4, 11, 32])
def test_every_pair_once_per_epoch(batch: int):
    labels, i, j, same = _pairs()
    gen = PairListGenerator(labels, i, j, same, batch)
    assert gen.steps_per_epoch == -(-len(i) // batch) and len(gen) == len(i)
    orders = []
    for epoch in range(3):
        batches = list(gen.epoch(np.random.default_rng(epoch)))
        assert len(batches) == gen.steps_per_epoch
        seen = [pair for b in batches for pair in _dataset_pairs(gen, b)]
        # exhaustive check: the multiset of pairs seen is exactly the list
        assert Counter(seen) == Counter(zip(i.tolist(), j.tolist(), same.tolist(), strict=True))
        for b in batches:
            assert len(np.unique(b.indices)) == len(b.indices)  # each item embedded once
            assert np.array_equal(b.labels, labels[b.indices])
            assert len(b.indices) <= 2 * batch
        orders.append([tuple(b.indices) for b in batches])
    if batch < len(i):
        assert orders[0] != orders[1]  # a fresh order each epoch


def test_unshuffled_is_interleaved_list_order_every_epoch():
    labels, i, j, same = _pairs()
    gen = PairListGenerator(labels, i, j, same, 4, shuffle=False)
    first = [_dataset_pairs(gen, b) for b in gen.epoch(np.random.default_rng(0))]
    again = [_dataset_pairs(gen, b) for b in gen.epoch(np.random.default_rng(5))]
    assert first == again
    listed = list(zip(i.tolist(), j.tolist(), same.tolist(), strict=True))
    dealt = [pair for b in first for pair in b]
    for kind in (True, False):  # each kind keeps its list order
        assert [p for p in dealt if p[2] == kind] == [p for p in listed if p[2] == kind]


@pytest.mark.parametrize("shuffle", [True, False])
def test_batches_mix_both_kinds_of_a_sorted_list(shuffle: bool):
    """A pairs file lists all same pairs first: every batch still holds both kinds, 50/50."""
    labels = np.repeat(np.arange(40), 2)  # (80,)
    i = np.r_[np.arange(0, 80, 2), np.arange(0, 78, 2)]
    j = np.r_[np.arange(1, 80, 2), np.arange(2, 80, 2)]
    gen = PairListGenerator(labels, i, j, labels[i] == labels[j], 8, shuffle=shuffle)
    for b in gen.epoch(np.random.default_rng(3)):
        n_same, n_diff = len(b.tuples[0]), len(b.tuples[2])
        assert n_same >= 1 and n_diff >= 1 and abs(n_same - n_diff) <= 1


def test_make_batch_draws_distinct_listed_pairs():
    labels, i, j, same = _pairs()
    gen = PairListGenerator(labels, i, j, same, 5)
    b = gen.make_batch(np.random.default_rng(0))
    got = _dataset_pairs(gen, b)
    assert len(got) == 5 and len(set(got)) == 5
    assert set(got) <= set(zip(i.tolist(), j.tolist(), same.tolist(), strict=True))


def test_bad_pair_lists_name_the_problem():
    labels, i, j, same = _pairs()
    with pytest.raises(DataError, match="11 first items, 10 second items"):
        PairListGenerator(labels, i, j[:-1], same)
    with pytest.raises(DataError, match="no pairs"):
        PairListGenerator(labels, i[:0], j[:0], same[:0])
    with pytest.raises(DataError, match=r"must lie in 0\.\.7 .*got 0\.\.8"):
        PairListGenerator(labels, i, np.where(j == 7, 8, j), same)
    flipped = same.copy()
    flipped[2] = ~flipped[2]
    with pytest.raises(
        DataError, match="pair 2 is marked different but its items have labels 2 and 2"
    ):
        PairListGenerator(labels, i, j, flipped)
