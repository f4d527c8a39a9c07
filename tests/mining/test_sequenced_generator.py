"""SequencedTripletGenerator: ordered Batch objects, refresh, lower_hardness, resume."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.errors import ConfigError, DataError
from siamese.mining import create_sequenced_generator
from siamese.sampling import Batch


def _data(n: int = 120, classes: int = 20):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    x = (rng.standard_normal((classes, 6))[labels] + 0.5 * rng.standard_normal((n, 6))).astype(
        np.float32
    )
    return x, labels


def _gen(strategy: str = "sigmoid", **kw):
    x, labels = _data()
    kw.setdefault("features", x)
    g = create_sequenced_generator(
        strategy, labels, triplets_per_batch=8, steps_per_epoch=5, epochs=3, seed=0, **kw
    )
    return g, x, labels


def test_batches_serve_the_sequence_in_order() -> None:
    g, x, labels = _gen("cyclic_sigmoid", cycles=3, threshold=0.9)
    rng = np.random.default_rng(0)
    batches = [b for _ in range(3) for b in g.epoch(rng)]
    assert len(batches) == 15 and all(isinstance(b, Batch) for b in batches)
    targets = np.concatenate([b.hardness for b in batches])
    np.testing.assert_allclose(targets, g.base_target)  # in order, never shuffled
    for b in batches:
        assert len(np.unique(b.indices)) == len(b.indices)  # unique items, embedded once
        a, p, n = b.tuples
        assert len(a) == 8 and b.achieved.shape == (8,)
        lab = labels[b.indices]
        np.testing.assert_array_equal(b.labels, lab)
        assert np.all(lab[a] == lab[p]) and not np.any(lab[a] == lab[n])
    served = np.concatenate([b.indices[b.tuples[0]] for b in batches])
    np.testing.assert_array_equal(served, g.anchor)
    assert np.abs(np.concatenate([b.achieved for b in batches]) - targets).mean() < 0.05


def test_refresh_lower_hardness_and_resume() -> None:
    g, x, labels = _gen("linear", threshold=1.0)
    rng = np.random.default_rng(0)
    first = [b for b in g.epoch(rng)]
    g.refresh(lambda: -x)  # new features: the rest is re-mined
    assert (g.negative[g.position :] == -1).all()
    g.lower_hardness(0.5)
    second = [b for b in g.epoch(rng)]
    np.testing.assert_allclose(second[0].hardness, 0.5 * g.base_target[40:48])
    state = g.state_dict()
    h, _, _ = _gen("linear", threshold=1.0)
    h.load_state_dict(state)
    assert h.position == g.position == 80
    np.testing.assert_allclose(h.target, g.target)
    assert len(first) == 5
    with pytest.raises(ConfigError, match=r"factor must be in \(0, 1\]"):
        g.lower_hardness(0.0)


def test_strategies_without_target_and_without_features() -> None:
    rng = np.random.default_rng(0)
    g, _, labels = _gen("random", features=None)
    b = next(iter(g.epoch(rng)))
    assert b.hardness is None and b.achieved is None
    g, x, _ = _gen("hardest", features=None)
    with pytest.raises(DataError, match="needs features: pass features= or call refresh"):
        next(iter(g.epoch(rng)))
    g.refresh(lambda: x)
    b = next(iter(g.epoch(rng)))
    np.testing.assert_allclose(b.hardness, 1.0) and np.testing.assert_allclose(b.achieved, 1.0)
    g, _, _ = _gen("semi_hard_offline", margin=0.3)
    assert next(iter(g.epoch(rng))).hardness is None


def test_wraps_around_after_the_last_epoch() -> None:
    g, _, _ = _gen("sine")
    rng = np.random.default_rng(0)
    for _ in range(4):
        batches = list(g.epoch(rng))
    np.testing.assert_allclose(batches[0].hardness, g.base_target[:8])


def test_factory_errors() -> None:
    x, labels = _data()
    with pytest.raises(
        ConfigError, match="unknown mining strategy 'exp'.*online miners: batch_hard"
    ):
        create_sequenced_generator(
            "exp", labels, triplets_per_batch=4, steps_per_epoch=2, epochs=1, seed=0
        )
    with pytest.raises(ConfigError, match="threshold: expected a hardness"):
        create_sequenced_generator(
            "sigmoid",
            labels,
            triplets_per_batch=4,
            steps_per_epoch=2,
            epochs=1,
            seed=0,
            threshold=2,
        )
