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

This module knows folders, files and stores, never the ``Gallery`` class: ``Gallery.save`` and
``Gallery.load`` call it with plain values (a model, a store, a ``StoredGallery``, an index).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np

import siamese
from siamese._io import atomic_write_json
from siamese.errors import ModelFileError, SiameseError
from siamese.gallery import _files_v1
from siamese.gallery._store import GalleryStore, StoredGallery
from siamese.gallery._store_sqlite import SQLiteStore
from siamese.gallery.vector_index import VectorIndex

FORMAT = "siamese-gallery/2"
CONFIG, DATABASE, MODEL = "gallery.json", "gallery.db", "model"
OLD_FILES = ("embeddings.npy", "labels.npy", "index.faiss", "background.npy", "radius.npy")


@dataclass
class Manifest:
    """What a folder's ``gallery.json`` says: where the model is and which store holds the rows
    (``store`` None: a first-layout folder, whose whole ``config`` is then the old manifest)."""

    path: Path
    model_path: Path
    store: dict[str, Any] | None
    config: dict[str, Any]


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


def prepare_folder(
    directory: Path,
    model: Any,
    *,
    with_model: bool,
    attached: GalleryStore | None,
    store: GalleryStore | None,
) -> GalleryStore:
    """Create ``directory``, write ``model/`` into it (when asked, or when it is missing), and
    return the store the rows go to: ``store`` if given, else the attached store when it is this
    folder's database, else a new ``directory/gallery.db``."""
    directory.mkdir(parents=True, exist_ok=True)
    if with_model or not (directory / MODEL / "model.json").is_file():
        model.save(directory / MODEL)
    if store is not None:
        return store
    same = isinstance(attached, SQLiteStore) and _same_file(attached.path, directory / DATABASE)
    return attached if same else SQLiteStore(directory / DATABASE)


def finish_folder(directory: Path, store: GalleryStore, index: Any, generation: str) -> Path:
    """After the rows committed: the index cache (an SQLite folder), then the manifest (one
    rename), then a migrated first-layout folder's old files."""
    if isinstance(store, SQLiteStore):
        write_index_cache(index, directory, generation)
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


def read_manifest(directory: Path) -> Manifest:
    """Read and check ``directory/gallery.json`` (see the module docstring for the layout).

    Raises:
        ModelFileError: missing or corrupt, or naming a model outside the folder.
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
    return Manifest(cfg_path, model_path, store_cfg, cfg)


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


def read_store(store: GalleryStore) -> StoredGallery:
    """Every row and setting of ``store``.

    Raises:
        ModelFileError: the store holds no gallery, or cannot be read.
    """
    if not store.exists():
        raise ModelFileError(
            f"{store.where}: holds no gallery (no settings table); re-save the gallery"
        )
    return store.read()


def cached_index(
    directory: Path | None,
    stored: StoredGallery,
    embeddings: np.ndarray,
    *,
    metric: str,
    kind: str,
    prepare: Callable[[np.ndarray], np.ndarray],
) -> VectorIndex:
    """The faiss index of ``embeddings``: the folder's cache when it is of this generation
    (extended by the rows appended since), else rebuilt; a rebuilt or extended cache is written
    back (``directory`` None: built in memory only). ``prepare`` maps rows to what the index
    holds (unit vectors for cosine)."""
    emb = embeddings
    dim = emb.shape[1] if emb.ndim == 2 and emb.shape[1] else int(stored.settings.get("dim", 0))
    cache = None if directory is None else directory / f"index-{stored.generation}.faiss"
    index = None
    if cache is not None and cache.is_file():
        try:
            index = VectorIndex.load(cache, metric=metric, kind=kind)
        except SiameseError:  # ModelFileError among them: a damaged cache is rebuilt
            index = None
        if index is not None and (index.dim != emb.shape[1] or index.ntotal > len(emb)):
            index = None
    fresh = index is None or index.ntotal < len(emb)
    if index is None:
        index = VectorIndex(max(dim, 1), metric, kind)
    if index.ntotal < len(emb):
        index.add(prepare(emb[index.ntotal :]))
    if fresh and directory is not None:
        with contextlib.suppress(OSError):  # a read-only folder: the cache is only a speed-up
            write_index_cache(index, directory, stored.generation)
    return index


def write_index_cache(index: Any, directory: Path, generation: str | None) -> None:
    """``index-<generation>.faiss`` (older caches removed); nothing for a server-side index."""
    if not isinstance(index, VectorIndex):
        return
    keep = f"index-{generation}.faiss"
    index.save(directory / keep)
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
