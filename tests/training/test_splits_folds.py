"""``data.val_fold``: K stratified folds of a protocol's TRAIN part, each item held out once
(what ``benchmarks/ucr.py --select --folds K`` scores a recipe on)."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.errors import ConfigError
from siamese.training import load_config
from siamese.training.splits import load_splits, stratified_fold


def test_folds_partition_every_class():
    labels = np.repeat(np.arange(5), [10, 7, 4, 2, 1])
    folds = [stratified_fold(labels, 4, k, seed=3) for k in range(4)]
    together = np.concatenate(folds)
    assert sorted(together.tolist()) == list(range(len(labels)))  # each item exactly once
    for c in range(5):
        counts = [int(np.sum(labels[f] == c)) for f in folds]
        assert max(counts) - min(counts) <= 1, (c, counts)  # dealt in turn
    again = [stratified_fold(labels, 4, k, seed=3) for k in range(4)]
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))


def test_a_fold_of_a_ucr_train_part(shared_data):
    path = shared_data / "ucr" / "GunPoint"
    if not path.is_dir():
        pytest.skip("GunPoint not in the shared data")
    held = []
    for k in range(4):
        cfg = load_config(
            None,
            [
                'data.source="ucr"',
                f'data.path="{path}"',
                'data.split="protocol"',
                'data.parts=["train"]',
                "data.val_fraction=0.25",
                'data.val_split="items"',
                f"data.val_fold={k}",
            ],
        )
        _, parts, _ = load_splits(cfg)
        assert set(parts) == {"train", "val"}
        assert len(parts["train"]) + len(parts["val"]) == 50  # GunPoint's TRAIN
        assert set(np.unique(parts["val"].labels)) <= set(np.unique(parts["train"].labels))
        held.append(len(parts["val"]))
    assert sum(held) == 50 and max(held) - min(held) <= 2


def test_a_fold_beyond_the_folds_is_one_line():
    with pytest.raises(
        ConfigError, match=r"'data.val_fold' = 4: .* round\(1 / data.val_fraction\) = 4"
    ):
        load_config(
            None,
            ['data.split="protocol"', 'data.val_split="items"', "data.val_fraction=0.25",
             "data.val_fold=4"],
        )  # fmt: skip
