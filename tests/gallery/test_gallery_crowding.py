"""Gallery crowding correction: it undoes a hub, matches the episode scorer, survives save/load."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch

from siamese.errors import ConfigError, ModelFileError
from siamese.evaluation.crowding import crowding_offsets
from siamese.gallery import Gallery


def _hub_world():
    """2-d identity embeddings: class "seen" was trained (a dense background around the origin),
    class "new" was not. A "new" query at (1, 0) is nearer the "seen" example at (0, 0) than its
    own at (2.2, 0), but the "seen" example sits in a crowd."""
    rng = np.random.default_rng(0)
    background = rng.normal(0, 0.05, size=(200, 2)).astype(np.float32)
    enrolled = np.array([[0.0, 0.0], [2.2, 0.0]], dtype=np.float32)
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    return background, enrolled, query


def test_correction_undoes_a_hub_and_reports_corrected_distances(make_identity):
    background, enrolled, query = _hub_world()
    g = Gallery(make_identity(2)).fit(enrolled, ["seen", "new"])
    assert g.predict(query).tolist() == ["seen"]
    g.set_background(background, beta=1.0, k=10)
    res = g.identify(query, k=2)[0]
    assert res.label == "new"
    offsets = crowding_offsets(enrolled, background, "euclidean", beta=1.0, k=10)
    assert res.matches[0].distance == pytest.approx(1.2 - offsets[1], abs=1e-5)
    assert res.matches[1].distance == pytest.approx(1.0 - offsets[0], abs=1e-5)
    g.set_background(None)
    assert g.predict(query).tolist() == ["seen"]


def test_later_enrolments_get_their_radius_and_refit_keeps_the_background(make_identity):
    background, enrolled, query = _hub_world()
    g = Gallery(make_identity(2)).set_background(background, beta=1.0, k=10)
    g.fit(enrolled[:1], ["seen"]).add(enrolled[1:], ["new"])
    assert len(g.crowding_.radius) == 2
    assert g.predict(query).tolist() == ["new"]
    g.fit(enrolled, ["seen", "new"])  # forgets enrolments, not the background
    assert len(g.crowding_.radius) == 2 and g.predict(query).tolist() == ["new"]


def test_matches_brute_force_ranking_on_random_data(make_mlp):
    rng = np.random.default_rng(1)
    model = make_mlp("squared_euclidean")
    items = rng.normal(size=(40, 8)).astype(np.float32)
    bg_items = rng.normal(size=(100, 8)).astype(np.float32)
    queries = rng.normal(size=(15, 8)).astype(np.float32)
    names = [f"c{i % 10}" for i in range(40)]
    g = Gallery(model).fit(items, names)
    g.set_background(g.embed(bg_items), beta=0.5, k=5)
    emb, qe = g.embed(items), g.embed(queries)
    d = model.distance.matrix(torch.from_numpy(qe), torch.from_numpy(emb)).numpy()
    d = d - crowding_offsets(emb, g.embed(bg_items), model.distance, beta=0.5, k=5)[None]
    want = [names[i] for i in d.argmin(axis=1)]
    assert g.predict(queries).tolist() == want


def test_save_and_load_keep_the_correction(tmp_path, make_identity):
    background, enrolled, query = _hub_world()
    g = Gallery(make_identity(2)).fit(enrolled, ["seen", "new"])
    g.set_background(background, beta=1.0, k=10)
    g.save(tmp_path / "g")
    back = Gallery.load(tmp_path / "g", model=make_identity(2))
    assert back.crowding_.beta == 1.0 and back.crowding_.k == 10
    assert np.array_equal(back.crowding_.radius, g.crowding_.radius)
    assert back.predict(query).tolist() == ["new"]
    back.store_.close()
    with sqlite3.connect(tmp_path / "g" / "gallery.db") as db:  # a tampered store
        db.execute("DELETE FROM background")
    with pytest.raises(ModelFileError, match="crowding is on but the store holds no background"):
        Gallery.load(tmp_path / "g", model=make_identity(2))


def test_bad_settings_are_clear_errors(make_identity, make_mlp):
    background, enrolled, _ = _hub_world()
    g = Gallery(make_identity(2)).fit(enrolled, ["seen", "new"])
    with pytest.raises(ConfigError, match="k: expected 1 <= k <= 200"):
        g.set_background(background, k=500)
    with pytest.raises(ConfigError, match="beta"):
        g.set_background(background, beta=-1)
    with pytest.raises(ConfigError, match=r"\(M, D\)"):
        g.set_background(np.zeros(3, dtype=np.float32))
    with pytest.raises(ConfigError, match="pair head"):
        Gallery(make_mlp(head=True)).set_background(np.zeros((5, 4), dtype=np.float32))


def test_a_background_of_another_dimension_changes_nothing(make_identity):
    background, enrolled, _ = _hub_world()
    g = Gallery(make_identity(2)).set_background(np.zeros((20, 3), dtype=np.float32), k=5)
    with pytest.raises(ConfigError, match="same D"):
        g.fit(enrolled, ["seen", "new"])
    assert len(g) == 0 and (g.index_ is None or g.index_.ntotal == 0)
