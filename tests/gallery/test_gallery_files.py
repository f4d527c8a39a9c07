"""Gallery save/load: a manifest, an SQLite store, a rebuildable faiss cache, the model copy."""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest

from siamese.errors import ConfigError, DataError, ModelFileError
from siamese.gallery import Gallery, find_model_dir
from siamese.gallery._files_v1 import save_v1
from siamese.model import SiameseModel


@pytest.fixture
def fitted(mlp_model, vectors):
    g = Gallery(mlp_model).fit(vectors[:20], [f"c{i % 6}" for i in range(20)])
    return g.calibrate(vectors[20:], [f"c{i % 6}" for i in range(10)], far=0.2)


def _names(directory):
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("gallery.db-"))


def test_round_trip_gives_equal_results(fitted, vectors, tmp_path):
    fitted.save(tmp_path / "g")
    gen = fitted.generation_
    assert _names(tmp_path / "g") == ["gallery.db", "gallery.json", f"index-{gen}.faiss", "model"]
    assert json.loads((tmp_path / "g" / "gallery.json").read_text())["store"]["kind"] == "sqlite"
    loaded = Gallery.load(tmp_path / "g")
    assert loaded.identify(vectors, k=4) == fitted.identify(vectors, k=4)
    assert loaded.verify(vectors[:3], vectors[3:6]) == fitted.verify(vectors[:3], vectors[3:6])
    assert loaded.threshold_ == fitted.threshold_ and loaded.calibration_ == fitted.calibration_
    np.testing.assert_array_equal(loaded.embeddings_, fitted.embeddings_)  # float32 exactly
    loaded.add(vectors[:2], ["late", "late"])  # committed to the store before add returns
    again = Gallery.load(tmp_path / "g")
    assert again.num_classes == 7 and len(again) == 22
    assert again.identify(vectors, k=4) == loaded.identify(vectors, k=4)


def test_the_index_is_a_cache_rebuilt_or_extended_from_the_store(fitted, vectors, tmp_path):
    d = tmp_path / "g"
    fitted.save(d)
    cache = d / f"index-{fitted.generation_}.faiss"
    want = fitted.identify(vectors, k=3)
    cache.unlink()  # missing: rebuilt and written back
    assert Gallery.load(d).identify(vectors, k=3) == want and cache.is_file()
    cache.write_bytes(b"garbage")  # corrupt: rebuilt
    assert Gallery.load(d).identify(vectors, k=3) == want
    g = Gallery.load(d)
    g.add(vectors[20:25], ["n"] * 5)  # the cache now lags 5 rows behind: extended on load
    back = Gallery.load(d)
    assert back.index_.ntotal == 25 and back.identify(vectors, k=3) == g.identify(vectors, k=3)
    g.fit(vectors[:4], ["a", "b", "c", "d"])  # rows replaced: a new generation, the cache stale
    assert Gallery.load(d).identify(vectors, k=2) == g.identify(vectors, k=2)
    assert not cache.exists()  # the stale cache was replaced by one of the new generation


def test_settings_changes_are_stored(fitted, vectors, tmp_path):
    fitted.save(tmp_path / "g")
    fitted.calibrate(vectors[20:], [f"c{i % 6}" for i in range(10)], far=0.5)
    back = Gallery.load(tmp_path / "g")
    assert back.threshold_ == fitted.threshold_ and back.calibration_["far_target"] == 0.5


def test_an_old_layout_gallery_loads_and_migrates_on_save(fitted, vectors, tmp_path):
    d = tmp_path / "old"
    save_v1(d, fitted.snapshot(), fitted.index_, fitted.model)
    assert "embeddings.npy" in _names(d)
    old = Gallery.load(d)
    assert old.store_ is None and old.identify(vectors, k=3) == fitted.identify(vectors, k=3)
    old.save(d, with_model=False)
    assert "embeddings.npy" not in _names(d) and "gallery.db" in _names(d)
    migrated = Gallery.load(d)
    assert migrated.identify(vectors, k=3) == fitted.identify(vectors, k=3)
    assert migrated.calibration_ == fitted.calibration_


def test_load_with_a_given_model_and_without_model_copy(fitted, tmp_path, vectors):
    fitted.save(tmp_path / "g")
    model = SiameseModel.load(tmp_path / "g" / "model")
    assert Gallery.load(tmp_path / "g", model=model).identify(vectors[:3]) == fitted.identify(
        vectors[:3]
    )
    assert find_model_dir(tmp_path / "g") == tmp_path / "g" / "model"
    shutil.rmtree(tmp_path / "g" / "model")
    with pytest.raises(ModelFileError, match=r"model\.json: missing"):
        Gallery.load(tmp_path / "g")


def _set_manifest(d, **changes):
    cfg = json.loads((d / "gallery.json").read_text())
    cfg.update(changes)
    (d / "gallery.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize(
    ("breakage", "match"),
    [
        (lambda d: (d / "gallery.json").write_text("{not json"), "corrupt gallery config"),
        (lambda d: (d / "gallery.json").write_bytes(b"\xff\xfe"), "corrupt gallery config"),
        (lambda d: (d / "gallery.json").unlink(), r"gallery\.json: missing"),
        (lambda d: (d / "gallery.db").unlink(), r"gallery\.db: missing gallery database"),
        (
            lambda d: (d / "gallery.db").write_bytes(b"x" * 5000),
            r"cannot open the gallery database \(file is not a database\)",
        ),
        (lambda d: _set_manifest(d, model="../../elsewhere"), "leaves the gallery folder"),
        (
            lambda d: _set_manifest(d, store={"kind": "lance"}),
            "expected kind 'sqlite' or 'pgvector'",
        ),
        (
            lambda d: _set_manifest(d, store={"kind": "sqlite", "file": "/etc/passwd"}),
            "points outside the gallery folder",
        ),
    ],
)
def test_broken_copies_are_model_file_errors(fitted, tmp_path, breakage, match):
    d = tmp_path / "g"
    fitted.save(d)
    fitted.store_.close()
    for extra in d.glob("gallery.db-*"):
        extra.unlink()
    breakage(d)
    with pytest.raises(ModelFileError, match=match):
        Gallery.load(d)


def test_a_tampered_store_is_a_model_file_error(fitted, tmp_path):
    fitted.save(tmp_path / "g")
    with sqlite3.connect(tmp_path / "g" / "gallery.db") as db:
        db.execute("UPDATE items SET embedding = x'00' WHERE id = 3")
    with pytest.raises(ModelFileError, match="an embedding of 1 bytes, expected 16"):
        Gallery.load(tmp_path / "g")


def test_metric_mismatch_is_refused(fitted, tmp_path, make_mlp):
    fitted.save(tmp_path / "g")
    with pytest.raises(ModelFileError, match="load it with the model it was enrolled with"):
        Gallery.load(tmp_path / "g", model=make_mlp("cosine"))


def test_unknown_is_a_reserved_class_name(fitted, vectors):
    for name in ("unknown", " Unknown"):
        with pytest.raises(DataError, match="is reserved"):
            fitted.add(vectors[:2], ["ok", name])
    assert len(fitted) == 20 and "ok" not in fitted.class_names_  # all or nothing


def test_another_writer_is_detected(fitted, vectors, tmp_path):
    fitted.save(tmp_path / "g")
    other = Gallery.load(tmp_path / "g")
    other.add(vectors[:1], ["from-other"])
    with pytest.raises(ConfigError, match="another process changed it; load it again"):
        fitted.add(vectors[1:2], ["mine"])
    assert "mine" not in Gallery.load(tmp_path / "g").class_names_
