"""Crowding correction: radius against brute force, errors, and the hub it is meant to undo."""

import numpy as np
import pytest
import torch

from siamese.errors import ConfigError
from siamese.evaluation.crowding import crowding_offsets, neighbourhood_radius
from siamese.evaluation.one_shot import classify_by_nearest
from siamese.objectives.distances import get_distance


def test_radius_matches_a_brute_force_loop():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(7, 3)).astype(np.float32)
    bg = rng.normal(size=(40, 3)).astype(np.float32)
    for name in ("euclidean", "squared_euclidean", "cosine"):
        dist = get_distance(name)
        got = neighbourhood_radius(pts, bg, name, k=5, chunk=3)  # chunks of 3 points
        for i, p in enumerate(pts):
            d = sorted(
                float(dist.pairwise(torch.tensor(p)[None], torch.tensor(b)[None])) for b in bg
            )
            assert got[i] == pytest.approx(np.mean(d[:5]), abs=1e-5)


def test_offsets_scale_with_beta_and_zero_beta_is_plain():
    rng = np.random.default_rng(1)
    pts, bg = rng.normal(size=(4, 2)), rng.normal(size=(20, 2))
    r = neighbourhood_radius(pts, bg, "euclidean", k=3)
    assert np.allclose(crowding_offsets(pts, bg, "euclidean", beta=0.5, k=3), 0.5 * r)
    assert not crowding_offsets(pts, bg, "euclidean", beta=0.0, k=3).any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"k": 0}, "k: expected 1 <= k <= 20"), ({"k": 21}, "k: expected"), ({"beta": -1}, "beta")],
)
def test_bad_settings_are_named(kwargs, match):
    pts, bg = np.zeros((2, 3)), np.ones((20, 3))
    with pytest.raises(ConfigError, match=match):
        crowding_offsets(pts, bg, "euclidean", **kwargs)


def test_mismatched_dimensions_are_named():
    with pytest.raises(ConfigError, match="same D"):
        neighbourhood_radius(np.zeros((2, 3)), np.zeros((5, 4)), "euclidean", k=1)


def test_correction_undoes_a_hub():
    # Class 0 was trained: a tight cluster at the origin (the background), its enrolled example
    # in it. Class 1 was never seen: spread thinly around (2, 0), its enrolled example at (2.2, 0).
    # A class-1 query at (1.0, 0) is nearer the hub (1.0) than its own example (1.2), but the
    # hub's neighbourhood is crowded and the other's is empty.
    rng = np.random.default_rng(2)
    background = rng.normal(0, 0.05, size=(200, 2)).astype(np.float32)
    support = torch.tensor([[0.0, 0.0], [2.2, 0.0]])
    query = torch.tensor([[1.0, 0.0]])
    dist = get_distance("euclidean")
    cls = np.array([0, 1])
    plain = classify_by_nearest(query, support, cls, dist, np.random.default_rng(0))
    offset = crowding_offsets(support.numpy(), background, dist, beta=1.0, k=10)
    fixed = classify_by_nearest(query, support, cls, dist, np.random.default_rng(0), offset)
    assert plain.tolist() == [0]
    assert fixed.tolist() == [1]
    assert offset[1] > offset[0] > 0


def test_episodes_with_a_background_use_the_correction():
    # Held-out class 0 sits in the crowded region of the background; class 1 is spread thinly
    # and nearer to class 0 than to its own members: plain 1-NN sends class 1 to class 0.
    from siamese.evaluation.one_shot import n_way_k_shot_accuracy

    rng = np.random.default_rng(3)
    crowded = rng.normal(0, 0.05, size=(30, 2))
    sparse = np.c_[rng.uniform(0.7, 3.0, 30), rng.normal(0, 0.05, 30)]
    emb = np.concatenate([crowded, sparse]).astype(np.float32)
    labels = np.repeat([0, 1], 30)
    background = rng.normal(0, 0.05, size=(300, 2)).astype(np.float32)
    kw = {"n_way": 2, "k_shot": 1, "episodes": 200, "queries_per_class": 3, "seed": 0}
    plain = n_way_k_shot_accuracy(emb, labels, **kw).accuracy
    fixed = n_way_k_shot_accuracy(
        emb, labels, background=background, crowding_beta=0.5, **kw
    ).accuracy
    assert fixed > plain + 0.05
    same = n_way_k_shot_accuracy(emb, labels, background=background, crowding_beta=0.0, **kw)
    assert same.accuracy == plain
