"""A gallery folder: a manifest, a transactional store, the model, and a rebuildable index cache.

```
gallery/
  gallery.json            the manifest: format, where the store is, the model folder
  gallery.db              the SQLite store (WAL mode; -wal/-shm files beside it while open)
  index-<generation>.faiss  the faiss index: a cache, rebuilt or extended from the store on load
  model/                  model.json + model.safetensors (a copy: the folder is self-contained)
```

A PostgreSQL store (``_store_pgvector``) keeps the rows on the server; the folder then holds the
manifest (naming the table and the environment variable with the DSN, never the DSN itself) and
the model. Folders of the first layout (``siamese-gallery/1``, ``_files_v1``) still load; saving
into one migrates it: the store is written, then the manifest is replaced (one rename), then the
old files are removed, so a kill at any moment leaves a folder that loads.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import siamese
from siamese._io import atomic_write_json
from siamese.errors import ModelFileError, SiameseError
from siamese.gallery import _files_v1
from siamese.gallery._crowding import Crowding
from siamese.gallery._store import GalleryStore, StoredGallery
from siamese.gallery._store_sqlite import SQLiteStore
from siamese.gallery.vector_index import VectorIndex

if TYPE_CHECKING:
    from siamese.gallery.gallery import Gallery

FORMAT = "siamese-gallery/2"
CONFIG, DATABASE, MODEL = "gallery.json", "gallery.db", "model"
OLD_FILES = ("embeddings.npy", "labels.npy", "index.faiss", "background.npy", "radius.npy")


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


def save_gallery(
    gallery: Gallery, directory: Path, *, with_model: bool, store: GalleryStore | None
) -> Path:
    """Write ``gallery`` into ``directory`` (its own store unless ``store`` is given) and attach
    the gallery to that store: later enrolments commit there."""
    directory.mkdir(parents=True, exist_ok=True)
    if with_model or not (directory / MODEL / "model.json").is_file():
        gallery.model.save(directory / MODEL)
    attached = gallery.store_
    if store is None:
        same = isinstance(attached, SQLiteStore) and _same_file(attached.path, directory / DATABASE)
        store = attached if same else SQLiteStore(directory / DATABASE)
    if store is attached and gallery.generation_ is not None:
        store.update_settings(gallery.settings())  # the rows are there already
    else:
        gallery.generation_ = store.replace(gallery.snapshot())
    gallery.store_ = store
    gallery.index_ = store.vector_index(gallery) or gallery.index_  # search on the server
    if isinstance(store, SQLiteStore):
        _write_index_cache(gallery, directory)
    atomic_write_json(
        directory / CONFIG,
        {
            "format": FORMAT,
            "library_version": siamese.__version__,
            "store": store.manifest(),
            "model": MODEL,
        },
    )
    for name in OLD_FILES:  # a migrated first-layout folder: its files are no longer read
        (directory / name).unlink(missing_ok=True)
    return directory


def load_gallery(cls: type[Gallery], directory: Path, model: Any, dsn: str | None) -> Gallery:
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
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        fmt = cfg.get("format")
        if fmt not in (FORMAT, _files_v1.FORMAT):
            raise KeyError(f"format {fmt!r}, expected {FORMAT!r}")
        store_cfg = cfg["store"] if fmt == FORMAT else None
        model_path = _model_path(directory, cfg.get("model", MODEL), cfg_path)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"{cfg_path}: corrupt gallery config ({exc}); re-save the gallery"
        ) from None
    if model is None:
        from siamese.model import SiameseModel

        model = SiameseModel.load(model_path)
    if store_cfg is None:
        return _files_v1.load_v1(cls, directory, cfg, model)
    store = open_store(directory, store_cfg, dsn)
    try:
        if not store.exists():
            raise ModelFileError(
                f"{store.where}: holds no gallery (no settings table); re-save the gallery"
            )
        stored = store.read()
        gallery = _build(cls, model, stored, cfg_path)
        gallery.index_ = store.vector_index(gallery) or _index(gallery, directory, stored)
    except BaseException:
        store.close()
        raise
    gallery.store_, gallery.generation_ = store, stored.generation
    return gallery


def open_store(directory: Path, spec: Any, dsn: str | None) -> GalleryStore:
    """The store a manifest's ``store`` entry names.

    Raises:
        ModelFileError: an unknown kind, or a store that cannot be opened.
    """
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind == SQLiteStore.kind:
        path = _inside(directory, str(spec.get("file", DATABASE)), directory / CONFIG)
        if not path.is_file():
            raise ModelFileError(f"{path}: missing gallery database; re-save the gallery")
        return SQLiteStore(path, str(spec.get("synchronous", "FULL")))
    if kind == "pgvector":
        from siamese.gallery._store_pgvector import PgVectorStore

        return PgVectorStore.from_manifest(spec, dsn, where=str(directory / CONFIG))
    raise ModelFileError(
        f"{directory / CONFIG}: store {spec!r}: expected kind 'sqlite' or 'pgvector'; re-save"
    )


def restore(gallery: Gallery, store: GalleryStore) -> None:
    """Put ``gallery`` back to what ``store`` holds (after a change that failed to commit)."""
    stored = store.read()
    fresh = _build(type(gallery), gallery.model, stored, Path(store.where))
    fresh.index_ = store.vector_index(fresh) or _index(fresh, None, stored)
    fresh.store_, fresh.generation_ = store, stored.generation
    vars(gallery).update(vars(fresh))


def _build(cls: type[Gallery], model: Any, stored: StoredGallery, cfg_path: Path) -> Gallery:
    s = stored.settings
    gallery = _files_v1.new_gallery(
        cls, model, s.get("index", "auto"), s.get("threshold"), s.get("metric"), cfg_path
    )
    gallery.embeddings_, gallery.labels_ = stored.embeddings, stored.labels
    gallery.class_names_ = stored.class_names
    gallery._class_ids = {n: i for i, n in enumerate(stored.class_names)}
    gallery.threshold_ = s.get("threshold_")
    gallery.calibration_ = s.get("calibration")
    crowding = s.get("crowding")
    if crowding:
        if stored.background is None or stored.radius is None:
            raise ModelFileError(f"{cfg_path}: crowding is on but the store holds no background")
        try:
            c = Crowding(
                stored.background, model.distance_name, float(crowding["beta"]), int(crowding["k"])
            )
        except (KeyError, TypeError, ValueError, SiameseError) as exc:
            raise ModelFileError(f"{cfg_path}: bad crowding settings ({exc})") from None
        c.radius = stored.radius
        gallery.crowding_ = c
    return gallery


def _index(gallery: Gallery, directory: Path | None, stored: StoredGallery) -> VectorIndex:
    """The faiss index: the cache when it is of this generation (extended by rows appended since),
    else rebuilt from the stored embeddings; a rebuilt or extended cache is written back."""
    emb = gallery.embeddings_
    dim = emb.shape[1] if emb.ndim == 2 and emb.shape[1] else int(stored.settings.get("dim", 0))
    cache = None if directory is None else directory / f"index-{stored.generation}.faiss"
    index = None
    if cache is not None and cache.is_file():
        try:
            index = VectorIndex.load(cache, metric=gallery._metric, kind=gallery.index)
        except (ModelFileError, SiameseError):
            index = None
        if index is not None and (index.dim != emb.shape[1] or index.ntotal > len(emb)):
            index = None
    fresh = index is None or index.ntotal < len(emb)
    if index is None:
        index = VectorIndex(max(dim, 1), gallery._metric, gallery.index)
    if index.ntotal < len(emb):
        index.add(gallery._for_index(emb[index.ntotal :]))
    gallery.index_ = index
    if fresh and directory is not None:
        gallery.generation_ = stored.generation
        with contextlib.suppress(OSError):  # a read-only folder: the cache is only a speed-up
            _write_index_cache(gallery, directory)
    return index


def _write_index_cache(gallery: Gallery, directory: Path) -> None:
    if gallery.index_ is None or not isinstance(gallery.index_, VectorIndex):
        return
    keep = f"index-{gallery.generation_}.faiss"
    gallery.index_.save(directory / keep)
    for old in directory.glob("index-*.faiss"):
        if old.name != keep:
            old.unlink(missing_ok=True)


def _model_path(directory: Path, relative: Any, cfg_path: Path) -> Path:
    """The model folder ``gallery.json`` names: a relative path that stays inside the gallery.

    Raises:
        ModelFileError: not a string, empty, absolute, or leaving the folder through ``..``.
    """
    rel = PurePath(relative) if isinstance(relative, str) and relative.strip() else None
    if rel is None or rel.is_absolute() or ".." in rel.parts or rel.drive:
        raise ModelFileError(
            f"{cfg_path}: model path {relative!r} leaves the gallery folder; expected a folder "
            f'inside it such as {MODEL!r} (re-save the gallery, or fix the "model" key)'
        )
    return _inside(directory, str(rel), cfg_path)  # and no link leads out of it either


def _inside(directory: Path, relative: str, cfg_path: Path) -> Path:
    """``directory / relative``, refused when it resolves outside ``directory``."""
    path = (directory / relative).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise ModelFileError(
            f"{cfg_path}: path {relative!r} points outside the gallery folder; a gallery names "
            "only files inside its own folder (re-save it)"
        )
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
