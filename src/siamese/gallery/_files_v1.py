"""The first gallery layout (``siamese-gallery/1``): files rewritten in place on every change.

Kept to read (and so migrate) galleries written before the transactional store, and as the
baseline ``benchmarks/gallery_crash.py`` measures the store against; new galleries are written by
``Gallery.save``. Like ``_files``, it reads and writes plain values (a ``StoredGallery``, an index,
a model), never the ``Gallery`` class. Layout:

```
gallery/
  gallery.json      format, class names, threshold and calibration, index kind and metric
  embeddings.npy    (N, D) float32 enrolled embeddings
  labels.npy        (N,) int64 class ids into gallery.json's class_names
  index.faiss       the vector index (faiss.write_index)
  background.npy    (M, D) crowding background embeddings (only with a crowding correction)
  radius.npy        (N,) each enrolled example's neighbourhood radius in the background (same)
  model/            model.json + model.safetensors (a copy: the folder is self-contained)
```
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

import siamese
from siamese._io import atomic_write_bytes, atomic_write_json
from siamese.errors import ModelFileError
from siamese.gallery._store import StoredGallery
from siamese.gallery.vector_index import VectorIndex

FORMAT = "siamese-gallery/1"
CONFIG, EMBEDDINGS, LABELS, INDEX, MODEL = (
    "gallery.json",
    "embeddings.npy",
    "labels.npy",
    "index.faiss",
    "model",
)
BACKGROUND, RADIUS = "background.npy", "radius.npy"


def save_v1(
    directory: Path,
    stored: StoredGallery,
    index: VectorIndex,
    model: Any,
    *,
    with_model: bool = True,
) -> Path:
    """Write a gallery (``Gallery.snapshot()``, its ``index_`` and ``model``) into ``directory``
    in the old layout, every file in place; ``gallery.json`` last."""
    directory.mkdir(parents=True, exist_ok=True)
    if with_model or not (directory / MODEL).is_dir():
        model.save(directory / MODEL)
    _write_npy(directory / EMBEDDINGS, stored.embeddings.astype(np.float32))
    _write_npy(directory / LABELS, stored.labels.astype(np.int64))
    index.save(directory / INDEX)
    s = stored.settings
    crowding = s.get("crowding")
    if crowding:
        assert stored.background is not None and stored.radius is not None
        _write_npy(directory / BACKGROUND, stored.background)
        _write_npy(directory / RADIUS, stored.radius.astype(np.float32))
        crowding = {**crowding, "background": len(stored.background)}
    atomic_write_json(
        directory / CONFIG,
        {
            "format": FORMAT,
            "library_version": siamese.__version__,
            "class_names": list(stored.class_names),
            "examples": len(stored.labels),
            "embedding_dim": int(stored.embeddings.shape[1]),
            "distance": s.get("distance"),
            "index": {
                "kind": s.get("index"),
                "structure": index.structure,
                "metric": s.get("metric"),
            },
            "threshold": s.get("threshold"),
            "threshold_": s.get("threshold_"),
            "calibration": s.get("calibration"),
            "crowding": crowding or None,
            "model": MODEL,
        },
    )
    return directory


def load_v1(directory: Path, cfg: dict[str, Any]) -> tuple[StoredGallery, VectorIndex]:
    """The rows, settings and index of an old-layout ``directory`` whose ``gallery.json`` is
    ``cfg``, checked against each other (settings named as a store names them).

    Raises:
        ModelFileError: a file is missing, corrupt or inconsistent with the others.
    """
    cfg_path = directory / CONFIG
    try:
        names = [str(n) for n in cfg["class_names"]]
        index_cfg = cfg["index"]
        kind, metric = index_cfg.get("kind", "auto"), index_cfg.get("metric")
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"{cfg_path}: corrupt gallery config ({exc}); re-save the gallery"
        ) from None
    emb = _read_npy(directory / EMBEDDINGS, np.float32, 2)
    labels = _read_npy(directory / LABELS, np.int64, 1)
    if len(emb) != len(labels) or (
        len(labels) and not 0 <= labels.min() <= labels.max() < len(names)
    ):
        raise ModelFileError(
            f"{directory}: {EMBEDDINGS} ({len(emb)} rows), {LABELS} ({len(labels)}) and the "
            f"{len(names)} class names of {CONFIG} do not match; re-save the gallery"
        )
    index = VectorIndex.load(directory / INDEX, metric=metric, kind=kind)
    if index.ntotal != len(emb) or index.dim != emb.shape[1]:
        raise ModelFileError(
            f"{directory / INDEX}: holds {index.ntotal} vectors of dim {index.dim}, expected "
            f"{len(emb)} of dim {emb.shape[1]}; re-save the gallery"
        )
    background = radius = None
    crowding = cfg.get("crowding")
    if crowding:
        background = _read_npy(directory / BACKGROUND, np.float32, 2)
        radius = _read_npy(directory / RADIUS, np.float32, 1)
        if len(radius) != len(labels) or background.shape[1:] != (emb.shape[1],):
            raise ModelFileError(
                f"{directory}: {RADIUS} ({len(radius)} rows) or {BACKGROUND} {background.shape} "
                f"does not match the {len(labels)} enrolled examples; re-save the gallery"
            )
    settings = {
        "index": kind,
        "metric": metric,
        "threshold": cfg.get("threshold"),
        "threshold_": cfg.get("threshold_"),
        "calibration": cfg.get("calibration"),
        "crowding": crowding or None,
    }
    return StoredGallery(settings, names, emb, labels, radius, background, ""), index


def _write_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def _read_npy(path: Path, dtype: type, ndim: int) -> np.ndarray:
    if not path.is_file():
        raise ModelFileError(f"{path}: missing; re-save the gallery")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: corrupt array file ({exc}); re-save the gallery") from None
    if arr.ndim != ndim or not np.can_cast(arr.dtype, dtype, casting="same_kind"):
        raise ModelFileError(
            f"{path}: expected a {ndim}-d {np.dtype(dtype)} array, got {arr.ndim}-d {arr.dtype}"
        )
    return arr.astype(dtype)
