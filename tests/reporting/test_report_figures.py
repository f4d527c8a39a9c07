"""Figure helpers on synthetic inputs: projections, frame choice, many classes, thumbnails."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from siamese.reporting.figures_embedding import embedding_frames, pick_frames, project
from siamese.reporting.run_data import example_pairs
from siamese.reporting.thumbnails import thumbnail


def _decode(uri: str) -> Image.Image:
    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    im.load()
    return im


def test_projection_raw_or_one_pca_for_all_frames():
    rng = np.random.default_rng(0)
    cube = {e: rng.random((30, 3)) for e in range(3)}
    coords, method = project(cube)
    assert method == "raw 3-D axes" and np.array_equal(coords[1], cube[1])
    wide = {e: rng.normal(size=(30, 8)) * (e + 1) for e in range(3)}
    coords, method = project(wide)
    assert method.startswith("PCA of 8-D embeddings, fitted once on all 3 snapshots")
    # One PCA for all frames: the same point in two frames maps through the same linear map.
    shifted = {0: wide[0], 1: wide[0] + 1.0}
    c, _ = project(shifted)
    delta = c[1] - c[0]
    assert np.allclose(delta, delta[0], atol=1e-6)


def test_frames_three_d_and_many_classes():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(20), 3)
    snaps = {e: rng.random((60, 3)) for e in (0, 1)}
    frames = embedding_frames(snaps, labels, [f"c{i}" for i in range(20)], best_epoch=1)
    assert frames.epochs == [0, 1] and frames.method == "raw 3-D axes"
    assert any("the 12 largest in colour, the others grey" in n for n in frames.notes)
    assert all(_decode(u).size[0] > 300 for u in frames.images)
    assert pick_frames(list(range(100)), 10)[::9] == [0, 99]
    assert embedding_frames({}, labels, []) is None


def test_thumbnails_for_each_kind():
    rng = np.random.default_rng(2)
    img = _decode(thumbnail(rng.integers(0, 255, (3, 40, 20)).astype(np.uint8), "image"))
    assert img.mode == "RGB" and max(img.size) <= 96
    assert _decode(thumbnail(rng.normal(size=(50, 4)), "sequence", length=30)).size[0] > 100
    assert _decode(thumbnail(rng.normal(size=12), "vector")).size[0] > 100


def test_example_pairs_by_kind_each_pair_once():
    pairs = {
        "left": np.array([0, 0, 1, 2, 3, 4, 5]),
        "right": np.array([1, 1, 0, 3, 4, 5, 6]),
        "scores": np.array([0.9, 0.9, 0.9, 0.2, 0.8, 0.1, 0.4]),
        "same": np.array([True, True, True, True, False, False, False]),
    }
    picks = example_pairs(pairs, threshold=0.5, per_kind=3)
    assert picks["correct_same"] == [0]  # (0, 1) drawn three times, shown once
    assert picks["false_reject"] == [3]
    assert picks["false_accept"] == [4]
    assert picks["correct_different"] == [5, 6]
