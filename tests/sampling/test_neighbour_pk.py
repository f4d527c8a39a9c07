"""Class-neighbour P x K batches: groups of look-alike classes, refreshed from a few items each."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_runs import killed_and_resumed, run_metrics, tiny_config

from siamese.errors import ConfigError
from siamese.pipeline import train_from_config
from siamese.sampling.neighbour_pk import NeighbourPKGenerator

LABELS = np.repeat(np.arange(60), 5)  # 60 classes of 5 items


def _on_a_line(gen):
    """Class c's items embedded at (10 c, noise): class c's neighbours are c +/- 1, 2, ..."""
    lab = LABELS[gen.refresh_indices]
    noise = np.random.default_rng(0).normal(size=len(lab))
    return np.c_[10.0 * lab, noise].astype(np.float32)


def test_plain_pk_until_the_first_refresh_then_groups_of_neighbours():
    gen = NeighbourPKGenerator(LABELS, p=12, k=3, group=4, pool=3, per_class=2, seed=1)
    rng = np.random.default_rng(0)
    assert len(np.unique(gen.make_batch(rng).labels)) == 12  # before refresh: plain P x K
    assert len(gen.refresh_indices) == 120  # 2 items of each of the 60 classes
    assert (np.bincount(LABELS[gen.refresh_indices]) == 2).all()
    gen.refresh(lambda: _on_a_line(gen))
    # brute force: the 3 nearest classes of class c on the line are within distance 2 (or 3 at
    # the ends, where one side is missing)
    for c, row in enumerate(gen.neighbours):
        assert c not in row
        assert np.abs(row - c).max() <= (3 if c in (0, 59) or c in (1, 58) else 2)

    def every_class_has_a_neighbour_in_the_batch(b):
        classes = np.unique(b.labels)
        gaps = np.abs(classes[:, None] - classes[None, :]) + 100 * np.eye(len(classes))
        return bool((gaps.min(1) <= 3).all())

    for _ in range(20):
        b = gen.make_batch(rng)
        assert len(np.unique(b.labels)) == 12 and len(b.indices) == 36
        assert len(np.unique(b.indices)) == len(b.indices)
        assert every_class_has_a_neighbour_in_the_batch(b)
    plain = NeighbourPKGenerator(LABELS, p=12, k=3, group=4, pool=3)  # not refreshed: random
    assert not all(
        every_class_has_a_neighbour_in_the_batch(plain.make_batch(rng)) for _ in range(20)
    )


def test_refresh_checks_the_number_of_embeddings_and_settings_are_checked():
    gen = NeighbourPKGenerator(LABELS, p=8, k=2, group=4, pool=8, per_class=1)
    with pytest.raises(ValueError, match="expected 60 embeddings"):
        gen.refresh(lambda: np.zeros((7, 2), np.float32))
    with pytest.raises(ConfigError, match="group >= 2"):
        NeighbourPKGenerator(LABELS, group=1)
    with pytest.raises(ConfigError, match="pool >= group - 1"):
        NeighbourPKGenerator(LABELS, group=8, pool=3)


GROUPED = [
    "training.early_stopping=false",
    "objective.name=triplet",
    "mining.strategy=batch_all",
    "sampling.kind=pk",
    "sampling.p=4",
    "sampling.k=4",
    "sampling.group=2",
    "sampling.pool=2",
    "sampling.per_class=3",
]


def test_trainer_refreshes_from_the_chosen_items_and_resume_matches(tmp_path, monkeypatch):
    seen = []
    original_refresh = NeighbourPKGenerator.refresh

    def spy(self, embed_fn):
        seen.append(len(embed_fn()))
        return original_refresh(self, embed_fn)

    monkeypatch.setattr(NeighbourPKGenerator, "refresh", spy)
    full = train_from_config(tiny_config(tmp_path, "full", GROUPED), report=False)
    n_classes = len(np.unique(full.splits["train"].labels))
    assert seen == [3 * n_classes] * 3  # 3 items of each class, before each of the 3 epochs
    killed_and_resumed(tmp_path, monkeypatch, "killed", GROUPED)
    assert run_metrics(tmp_path / "killed") == run_metrics(tmp_path / "full")
