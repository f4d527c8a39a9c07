"""The hardness sequencer, checked exhaustively on small random problems."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.errors import ConfigError, DataError
from siamese.mining import (
    HardnessSequencer,
    NegativeSearch,
    SearchOptions,
    exhaustive_hardness,
    hardness_of,
)


def _problem(seed: int, n: int = 240, classes: int = 30, dim: int = 8):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(classes), rng.integers(0, classes, n - classes)])
    centres = rng.standard_normal((classes, dim))
    x = centres[labels] + 0.7 * rng.standard_normal((n, dim))
    return x.astype(np.float32), labels


def _all_hardness(x: np.ndarray, labels: np.ndarray, a: int) -> tuple[np.ndarray, np.ndarray]:
    """Every negative of anchor ``a`` and its hardness, by scanning everything."""
    d = np.sqrt(((x.astype(np.float64) - x[a]) ** 2).sum(1))
    neg = np.flatnonzero(labels != labels[a])
    return neg, hardness_of(d[neg], d[neg].min(), d[neg].max())


@pytest.mark.parametrize("seed", range(5))
def test_exhaustive_small_problems(seed: int) -> None:
    x, labels = _problem(seed)
    total = 500
    t = HardnessSequencer("sigmoid", seed=seed).mine(labels, x, total)
    assert len(t) == total
    # never a negative of the anchor's class; the positive is another item of that class
    assert not np.any(labels[t.negative] == labels[t.anchor])
    assert np.all(labels[t.positive] == labels[t.anchor]) and np.all(t.positive != t.anchor)
    # every class with 2+ items serves as anchor
    counts = np.bincount(labels)
    assert set(labels[t.anchor]) == set(np.flatnonzero(counts >= 2))
    for i in range(0, total, 7):
        neg, h = _all_hardness(x, labels, t.anchor[i])
        # achieved hardness is the definition's, computed over ALL negatives
        assert (
            abs(t.achieved[i] - exhaustive_hardness(x, labels, t.anchor[i], t.negative[i])) < 1e-4
        )
        # and as close to the target as the best negative there is (candidates = all items here)
        best = np.abs(h - t.target[i]).min()
        assert abs(t.achieved[i] - t.target[i]) <= best + 1e-4
    assert t.mae() < 0.05


def test_anchor_order_concatenates_permutations() -> None:
    x, labels = _problem(0, n=90, classes=30)
    labels = np.arange(90) % 30  # 3 items per class
    t = HardnessSequencer("linear", seed=1).mine(labels, x, 75)
    cls = labels[t.anchor]
    for k in range(2):  # two full permutations, then 15 distinct random classes
        assert sorted(cls[30 * k : 30 * (k + 1)]) == list(range(30))
    assert len(set(cls[60:])) == 15
    # a class coming back uses its next anchor item
    for c in range(30):
        firsts = t.anchor[cls == c][:2]
        assert firsts[0] != firsts[1]


def test_targets_follow_the_schedule_and_track_it() -> None:
    x, labels = _problem(3, n=400, classes=40)
    t = HardnessSequencer("cyclic_linear", seed=0).mine(labels, x, 800)
    assert t.target[0] == 0 and np.argmax(t.target) > 0
    assert t.mae() < 0.03
    err = np.abs(t.achieved - t.target)
    assert np.corrcoef(t.target, t.achieved)[0, 1] > 0.99 and err.max() < 0.2


def test_reference_catalog_anchors_and_photo_positives() -> None:
    x, labels = _problem(1, n=120, classes=20)
    ref = np.zeros(len(labels), dtype=bool)
    first = np.unique(labels, return_index=True)[1]
    ref[first[:15]] = True  # 15 classes have a reference image; 5 have none
    t = HardnessSequencer("sine", reference_mask=ref, seed=0).mine(labels, x, 300)
    has_ref = np.isin(labels[t.anchor], labels[ref])
    assert ref[t.anchor[has_ref]].all() and not ref[t.positive[has_ref]].any()
    assert not ref[t.anchor[~has_ref]].any() and len(set(labels[t.anchor])) == 20
    assert not np.any(labels[t.negative] == labels[t.anchor])


def test_single_item_classes_and_self_positives() -> None:
    labels = np.array([0, 0, 1, 2, 3, 3])
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    t = HardnessSequencer("constant").mine(labels, x, 12)
    assert set(labels[t.anchor]) == {0, 3}  # single-item classes only serve as negatives
    t = HardnessSequencer("constant", allow_self_positive=True).mine(labels, x, 12)
    assert set(labels[t.anchor]) == {0, 1, 2, 3}
    single = np.isin(labels[t.anchor], [1, 2])
    assert np.all(t.positive[single] == t.anchor[single])
    with pytest.raises(DataError, match="no class has 2 items.*allow_self_positive"):
        HardnessSequencer("constant").mine(np.arange(5), x[:5], 3)
    with pytest.raises(DataError, match="at least 2 classes"):
        HardnessSequencer("constant").mine(np.zeros(5, dtype=int), x[:5], 3)


def test_frozen_encoder_callable_and_cosine() -> None:
    x, labels = _problem(2)
    t = HardnessSequencer("tanh", distance="cosine").mine(labels, lambda: x, 200)
    for i in range(0, 200, 20):
        ref = exhaustive_hardness(x, labels, t.anchor[i], t.negative[i], distance="cosine")
        assert abs(t.achieved[i] - ref) < 1e-4


def test_approximate_mode_stays_close() -> None:
    """PCA + IVF search (forced): the range is estimated, yet the hardness tracks the target."""
    rng = np.random.default_rng(0)
    labels = np.arange(3000) % 1500
    latent = rng.standard_normal((1500, 8))[labels] @ rng.standard_normal((8, 96))
    x = (latent + 0.3 * rng.standard_normal((3000, 96))).astype(np.float32)
    opts = SearchOptions(exact=False, search_dim=16)
    t = HardnessSequencer("sigmoid", search=opts).mine(labels, x, 600)
    true = np.array(
        [exhaustive_hardness(x, labels, a, n) for a, n in zip(t.anchor, t.negative, strict=True)]
    )
    assert not np.any(labels[t.negative] == labels[t.anchor])
    assert np.abs(true - t.target).mean() < 0.03


def test_search_input_errors() -> None:
    x, labels = _problem(0)
    with pytest.raises(DataError, match=r"features: expected shape \(240, D\)"):
        NegativeSearch(x[:10], labels)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        NegativeSearch(bad, labels)
    with pytest.raises(ConfigError, match="hardness is measured with euclidean or cosine"):
        NegativeSearch(x, labels, distance="l1")
    with pytest.raises(DataError, match="reference_mask: expected 240 booleans"):
        HardnessSequencer("sine", reference_mask=np.ones(3, bool)).mine(labels, x, 5)
