"""A gallery as a folder of inspectable files (JSON, .npy without pickle, a faiss index, the model).

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
import json
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import numpy as np

import siamese
from siamese._io import atomic_write_bytes, atomic_write_json
from siamese.errors import ModelFileError, SiameseError
from siamese.gallery._crowding import Crowding
from siamese.gallery.vector_index import VectorIndex

if TYPE_CHECKING:
    from siamese.gallery.gallery import Gallery

FORMAT = "siamese-gallery/1"
CONFIG, EMBEDDINGS, LABELS, INDEX, MODEL = (
    "gallery.json",
    "embeddings.npy",
    "labels.npy",
    "index.faiss",
    "model",
)
BACKGROUND, RADIUS = "background.npy", "radius.npy"


def find_model_dir(path: str | Path) -> Path:
    """The model folder of ``path``: a model or run folder (``model.json`` inside), a gallery
    folder (its ``model/``), or a run folder keeping the model in ``model/``.

    Raises:
        ModelFileError: none of these holds a ``model.json``.
    """
    path = Path(path)
    for candidate in (path, path / MODEL):
        if (candidate / "model.json").is_file():
            return candidate
    raise ModelFileError(
        f"{path}: no model.json here or in {path / MODEL}; pass a run folder written by "
        "`siamese train`, a model folder or a gallery folder"
    )


def save_gallery(gallery: Gallery, directory: Path, *, with_model: bool = True) -> Path:
    """Write every file of ``gallery`` into ``directory``; ``gallery.json`` last."""
    assert gallery.index_ is not None
    directory.mkdir(parents=True, exist_ok=True)
    if with_model or not (directory / MODEL).is_dir():
        gallery.model.save(directory / MODEL)
    _write_npy(directory / EMBEDDINGS, gallery.embeddings_.astype(np.float32))
    _write_npy(directory / LABELS, gallery.labels_.astype(np.int64))
    gallery.index_.save(directory / INDEX)
    crowding = gallery.crowding_
    if crowding is not None:
        _write_npy(directory / BACKGROUND, crowding.background)
        _write_npy(directory / RADIUS, crowding.radius.astype(np.float32))
    atomic_write_json(
        directory / CONFIG,
        {
            "format": FORMAT,
            "library_version": siamese.__version__,
            "class_names": gallery.class_names_,
            "examples": len(gallery.labels_),
            "embedding_dim": int(gallery.embeddings_.shape[1]),
            "distance": "pair_head"
            if gallery.model.head is not None
            else gallery.model.distance_name,
            "index": {
                "kind": gallery.index,
                "structure": gallery.index_.structure,
                "metric": gallery._metric,
            },
            "threshold": gallery.threshold,
            "threshold_": gallery.threshold_,
            "calibration": gallery.calibration_,
            "crowding": None
            if crowding is None
            else {"beta": crowding.beta, "k": crowding.k, "background": len(crowding.background)},
            "model": MODEL,
        },
    )
    return directory


def load_gallery(cls: type[Gallery], directory: Path, model: Any) -> Gallery:
    """Rebuild a ``Gallery`` from ``directory`` (see the module docstring for the layout).

    Raises:
        ModelFileError: a file is missing, corrupt or inconsistent with the others.
    """
    cfg_path = directory / CONFIG
    if not cfg_path.is_file():
        raise ModelFileError(
            f"{cfg_path}: missing; a gallery folder holds {CONFIG} (written by Gallery.save or "
            "`siamese enroll`)"
        )
    try:
        cfg = json.loads(cfg_path.read_text())
        if cfg.get("format") != FORMAT:
            raise KeyError(f"format {cfg.get('format')!r}, expected {FORMAT!r}")
        names = [str(n) for n in cfg["class_names"]]
        index_cfg = cfg["index"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"{cfg_path}: corrupt gallery config ({exc}); re-save the gallery"
        ) from None
    if model is None:
        from siamese.model import SiameseModel

        model = SiameseModel.load(_model_path(directory, cfg.get("model", MODEL), cfg_path))
    try:
        gallery = cls(model, index=index_cfg.get("kind", "auto"), threshold=cfg.get("threshold"))
    except SiameseError as exc:
        raise ModelFileError(f"{cfg_path}: {exc}") from None
    if gallery._metric != index_cfg.get("metric"):
        raise ModelFileError(
            f"{cfg_path}: the gallery was built with metric {index_cfg.get('metric')!r} but the model "
            f"searches with {gallery._metric!r}; load it with the model it was enrolled with"
        )
    emb = _read_npy(directory / EMBEDDINGS, np.float32, 2)
    labels = _read_npy(directory / LABELS, np.int64, 1)
    if len(emb) != len(labels) or (
        len(labels) and not 0 <= labels.min() <= labels.max() < len(names)
    ):
        raise ModelFileError(
            f"{directory}: {EMBEDDINGS} ({len(emb)} rows), {LABELS} ({len(labels)}) and the "
            f"{len(names)} class names of {CONFIG} do not match; re-save the gallery"
        )
    index = VectorIndex.load(directory / INDEX, metric=gallery._metric, kind=gallery.index)
    if index.ntotal != len(emb) or index.dim != emb.shape[1]:
        raise ModelFileError(
            f"{directory / INDEX}: holds {index.ntotal} vectors of dim {index.dim}, expected "
            f"{len(emb)} of dim {emb.shape[1]}; re-save the gallery"
        )
    gallery.embeddings_, gallery.labels_, gallery.index_ = emb, labels, index
    gallery.class_names_ = names
    gallery._class_ids = {n: i for i, n in enumerate(names)}
    gallery.threshold_ = cfg.get("threshold_")
    gallery.calibration_ = cfg.get("calibration")
    if cfg.get("crowding"):
        _load_crowding(gallery, directory, cfg["crowding"])
    return gallery


def _model_path(directory: Path, relative: Any, cfg_path: Path) -> Path:
    """The model folder ``gallery.json`` names: a relative path that stays inside the gallery.

    Raises:
        ModelFileError: not a string, absolute, or leaving the folder through ``..``.
    """
    rel = PurePath(relative) if isinstance(relative, str) and relative.strip() else None
    if rel is None or rel.is_absolute() or ".." in rel.parts or rel.drive:
        raise ModelFileError(
            f"{cfg_path}: model path {relative!r} leaves the gallery folder; expected a folder "
            f'inside it such as {MODEL!r} (re-save the gallery, or fix the "model" key)'
        )
    return directory / rel


def _load_crowding(gallery: Gallery, directory: Path, spec: dict[str, Any]) -> None:
    """Restore the crowding correction: background, settings and the saved radii."""
    background = _read_npy(directory / BACKGROUND, np.float32, 2)
    radius = _read_npy(directory / RADIUS, np.float32, 1)
    if len(radius) != len(gallery.labels_) or background.shape[1:] != (
        gallery.embeddings_.shape[1],
    ):
        raise ModelFileError(
            f"{directory}: {RADIUS} ({len(radius)} rows) or {BACKGROUND} {background.shape} does "
            f"not match the {len(gallery.labels_)} enrolled examples; re-save the gallery"
        )
    try:
        crowding = Crowding(
            background, gallery.model.distance_name, float(spec["beta"]), int(spec["k"])
        )
    except (KeyError, TypeError, ValueError, SiameseError) as exc:
        raise ModelFileError(f"{directory / CONFIG}: bad crowding settings ({exc})") from None
    crowding.radius = radius
    gallery.crowding_ = crowding


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
