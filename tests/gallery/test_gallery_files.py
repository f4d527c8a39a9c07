"""Gallery save/load: files only (JSON, .npy without pickle, faiss index, model copy)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from siamese.errors import ModelFileError
from siamese.gallery import Gallery, find_model_dir
from siamese.model import SiameseModel


@pytest.fixture
def fitted(mlp_model, vectors):
    g = Gallery(mlp_model).fit(vectors[:20], [f"c{i % 6}" for i in range(20)])
    return g.calibrate(vectors[20:], [f"c{i % 6}" for i in range(10)], far=0.2)


def test_round_trip_gives_equal_results(fitted, vectors, tmp_path):
    fitted.save(tmp_path / "g")
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        "embeddings.npy",
        "gallery.json",
        "index.faiss",
        "labels.npy",
        "model",
    ]
    loaded = Gallery.load(tmp_path / "g")
    assert loaded.identify(vectors, k=4) == fitted.identify(vectors, k=4)
    assert loaded.verify(vectors[:3], vectors[3:6]) == fitted.verify(vectors[:3], vectors[3:6])
    assert loaded.threshold_ == fitted.threshold_ and loaded.calibration_ == fitted.calibration_
    loaded.add(vectors[:2], ["late", "late"])  # still growable after loading
    assert loaded.num_classes == 7


def test_load_with_a_given_model_and_without_model_copy(fitted, tmp_path, vectors):
    fitted.save(tmp_path / "g")
    model = SiameseModel.load(tmp_path / "g" / "model")
    assert Gallery.load(tmp_path / "g", model=model).identify(vectors[:3]) == fitted.identify(
        vectors[:3]
    )
    assert find_model_dir(tmp_path / "g") == tmp_path / "g" / "model"
    import shutil

    shutil.rmtree(tmp_path / "g" / "model")
    with pytest.raises(ModelFileError, match=r"model\.json: missing"):
        Gallery.load(tmp_path / "g")


@pytest.mark.parametrize(
    ("breakage", "match"),
    [
        (lambda d: (d / "gallery.json").write_text("{not json"), "corrupt gallery config"),
        (lambda d: (d / "gallery.json").unlink(), r"gallery\.json: missing"),
        (lambda d: (d / "index.faiss").write_bytes(b"garbage"), "corrupt vector index"),
        (lambda d: np.save(d / "labels.npy", np.zeros(3, np.int64)), "do not match"),
        (
            lambda d: np.save(d / "embeddings.npy", np.array([{"a": 1}], dtype=object)),
            "corrupt array file",
        ),
        (lambda d: (d / "embeddings.npy").unlink(), r"embeddings\.npy: missing"),
    ],
)
def test_broken_copies_are_model_file_errors(fitted, tmp_path, breakage, match):
    d = tmp_path / "g"
    fitted.save(d)
    breakage(d)
    with pytest.raises(ModelFileError, match=match):
        Gallery.load(d)


def test_metric_mismatch_is_refused(fitted, tmp_path, make_mlp):
    fitted.save(tmp_path / "g")
    cfg = json.loads((tmp_path / "g" / "gallery.json").read_text())
    assert cfg["index"]["metric"] == "l2"
    with pytest.raises(ModelFileError, match="load it with the model it was enrolled with"):
        Gallery.load(tmp_path / "g", model=make_mlp("cosine"))
