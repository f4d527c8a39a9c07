"""Generators: balanced, valid tuples into a batch of unique items, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.errors import DataError
from siamese.sampling import PairGenerator, PKGenerator, TripletGenerator

LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 4])  # classes 3 and 4 have one item


def test_pairs_balanced_and_valid():
    gen = PairGenerator(LABELS, pairs_per_batch=20, steps_per_epoch=3)
    batches = list(gen.epoch(np.random.default_rng(0)))
    assert len(batches) == 3
    for b in batches:
        assert len(np.unique(b.indices)) == len(b.indices)  # each item embedded once
        a1, p, a2, n = b.tuples
        assert len(a1) == len(a2) == 10
        lab = LABELS[b.indices]
        assert (lab[a1] == lab[p]).all() and (b.indices[a1] != b.indices[p]).all()
        assert (lab[a2] != lab[n]).all()


def test_triplets_valid_and_single_item_classes_are_negatives_only():
    gen = TripletGenerator(LABELS, triplets_per_batch=200, steps_per_epoch=1)
    b = gen.make_batch(np.random.default_rng(1))
    a, p, n = b.tuples
    lab = LABELS[b.indices]
    assert (lab[a] == lab[p]).all() and (lab[a] != lab[n]).all()
    assert not np.isin(lab[a], [3, 4]).any()
    assert np.isin(lab[n], [3, 4]).any()


def test_pk_batches():
    gen = PKGenerator(LABELS, p=3, k=2, steps_per_epoch=1)
    b = gen.make_batch(np.random.default_rng(2))
    assert b.tuples is None
    assert len(np.unique(b.labels)) == 3 and len(np.unique(b.indices)) == len(b.indices)


def test_same_rng_same_epoch():
    g = TripletGenerator(LABELS, 8, 4)
    e1 = [b.indices.tolist() for b in g.epoch(np.random.default_rng([5, 1]))]
    e2 = [b.indices.tolist() for b in g.epoch(np.random.default_rng([5, 1]))]
    assert e1 == e2


def test_no_positive_possible():
    with pytest.raises(DataError, match="positive pair needs a class with at least 2 items"):
        PairGenerator(np.arange(5), 4, 1)
