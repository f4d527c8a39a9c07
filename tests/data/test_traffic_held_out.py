"""The simulator's held-out windows (``test_per_pattern``): a classification protocol whose test
windows share the training patterns, without changing the training windows."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.data import protocol_split, simulate_traffic
from siamese.errors import ConfigError

PATTERNS = ["normal", "blocked", "capacity_limit"]


def test_held_out_windows_follow_the_unchanged_training_windows():
    plain = simulate_traffic(n_per_pattern=4, patterns=PATTERNS, length=24, seed=3)
    held = simulate_traffic(
        n_per_pattern=4, patterns=PATTERNS, length=24, seed=3, test_per_pattern=2
    )
    assert plain.split is None and plain.meta["protocol"] == "none"
    parts = protocol_split(held)
    every = np.arange(len(plain))
    train = parts["train"].items.load(every)
    assert np.array_equal(train, plain.items.load(every))  # the training windows are the same
    assert np.array_equal(parts["test"].labels, np.repeat([0, 1, 2], 2))
    assert parts["test"].sources[0] == "traffic:normal:seed=3:4"  # drawn after the 4 training ones
    assert not np.isin(parts["test"].sources, parts["train"].sources).any()
    assert held.meta["protocol"] == "2 held-out windows of each pattern"


def test_held_out_windows_with_unseen_patterns():
    ds = simulate_traffic(
        n_per_pattern=3, patterns=PATTERNS, length=24, unseen=["blocked"], test_per_pattern=1
    )
    test = ds.labels[ds.split == "test"]
    assert np.array_equal(np.bincount(test), [1, 4, 1])  # every blocked window, 1 of the others
    assert ds.meta["protocol"] == (
        "patterns blocked never seen in training; 1 held-out windows of each pattern"
    )


def test_negative_count_is_an_error():
    with pytest.raises(ConfigError, match="traffic test_per_pattern: expected 0 or more"):
        simulate_traffic(n_per_pattern=2, test_per_pattern=-1)
