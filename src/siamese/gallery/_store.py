"""Where a gallery's enrolments live: a transactional store (the base class owns the flow).

A store keeps, in tables, what a gallery must not lose: the class names, every enrolled
embedding with its class (and crowding radius), the crowding background and the settings
(threshold, calibration, index kind, metric). Every change is one database transaction, and
``Gallery`` acknowledges an enrolment only after its transaction committed, so a kill at any
moment leaves the old state or the new. The faiss index is not stored here: it is a cache that
``Gallery.load`` rebuilds (or extends) from the stored embeddings.

Tables (``{p}`` is the store's table prefix: empty for SQLite, the gallery name for PostgreSQL)::

    {p}meta(key TEXT PRIMARY KEY, value TEXT)         JSON values: settings, generation, dim
    {p}classes(id INTEGER PRIMARY KEY, name TEXT)     class id -> name, ids 0..C-1
    {p}items(id INTEGER PRIMARY KEY, class_id, embedding, radius)    ids 0..N-1, in enrol order
    {p}background(id INTEGER PRIMARY KEY, embedding)  crowding background (may be empty)

Subclasses fill in the hooks: a connection and transaction (``_transaction``), the tables
(``_create_tables``) and how a vector is written and read (``_vector``, ``_unvector``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from siamese.errors import ConfigError, ModelFileError


@dataclass
class StoredGallery:
    """Everything a store holds, as arrays: what ``Gallery.load`` builds a gallery from."""

    settings: dict[str, Any]
    class_names: list[str]
    embeddings: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64
    radius: np.ndarray | None  # (N,) float32 with a crowding correction
    background: np.ndarray | None  # (M, D) float32 with a crowding correction
    generation: str  # changes whenever rows are replaced (not when they are appended)


class GalleryStore:
    """A transactional store of one gallery (see the module docstring).

    Raises (every method):
        ModelFileError: the database cannot be read or written (named with ``where``).
        ConfigError: the store was changed by another writer since this gallery read it.
    """

    kind = "store"
    placeholder = "?"
    prefix = ""
    where = "gallery store"

    # ---------------------------------------------------------------- hooks
    def _transaction(self) -> AbstractContextManager[Any]:
        """A context that yields a cursor inside one transaction, committed on exit."""
        raise NotImplementedError

    def _create_tables(self, cur: Any, dim: int) -> None:
        raise NotImplementedError

    def _vector(self, row: np.ndarray) -> Any:
        """One embedding ``(D,)`` as the database stores it."""
        raise NotImplementedError

    def _unvector(self, value: Any, dim: int) -> np.ndarray:
        raise NotImplementedError

    def _database_errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    def _lock_rows(self, cur: Any) -> None:
        """Keep other writers out until the transaction ends (SQLite's BEGIN IMMEDIATE does)."""

    def _index_rows(self, cur: Any, settings: dict[str, Any]) -> None:
        """Build the database's own search index over the rows just written (in the same
        transaction as the rows); nothing for a store that searches through faiss."""

    def manifest(self) -> dict[str, Any]:
        """What ``gallery.json`` records to find this store again (never a password)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection."""

    def vector_index(self, metric: str, dim: int, rows: int, kind: str) -> Any:
        """A search index that runs in the database, or None: ``Gallery`` then builds a faiss
        index (a cache) from the stored embeddings.

        Args:
            metric: the faiss metric the gallery searches (``l2``, ``ip``, ``l1``).
            dim: the embedding width. rows: the stored rows. kind: the gallery's index setting.
        """
        return None

    # ---------------------------------------------------------------- the flow
    def exists(self) -> bool:
        """Whether the store holds a gallery (its tables and a generation)."""
        try:
            return self._meta().get("generation") is not None
        except ModelFileError:
            return False

    def read(self) -> StoredGallery:
        """Read every row back, checked for consistency."""
        meta = self._meta()
        p, dim = self.prefix, int(meta.get("dim", 0))
        with self._guard("read"), self._transaction() as cur:
            cur.execute(f"SELECT id, name FROM {p}classes ORDER BY id")
            classes = cur.fetchall()
            cur.execute(f"SELECT id, class_id, embedding, radius FROM {p}items ORDER BY id")
            rows = cur.fetchall()
            cur.execute(f"SELECT embedding FROM {p}background ORDER BY id")
            back = cur.fetchall()
        names = [str(n) for _, n in classes]
        if [int(i) for i, _ in classes] != list(range(len(names))) or [
            int(r[0]) for r in rows
        ] != list(range(len(rows))):
            raise ModelFileError(
                f"{self.where}: class or item ids are not 0..n-1; re-save the gallery"
            )
        emb = np.zeros((len(rows), dim), dtype=np.float32)
        for i, r in enumerate(rows):
            emb[i] = self._unvector(r[2], dim)
        labels = np.array([int(r[1]) for r in rows], dtype=np.int64)
        if len(labels) and not 0 <= labels.min() <= labels.max() < len(names):
            raise ModelFileError(f"{self.where}: an item's class id has no class name; re-save")
        radius = np.array([r[3] for r in rows], dtype=np.float32) if meta.get("crowding") else None
        background = (
            np.stack([self._unvector(b[0], dim) for b in back])
            if back and radius is not None
            else None
        )
        settings = {k: v for k, v in meta.items() if k not in ("generation", "dim")}
        return StoredGallery(settings, names, emb, labels, radius, background, meta["generation"])

    def replace(self, stored: StoredGallery) -> str:
        """Replace the whole gallery in one transaction; returns the new generation."""
        dim = int(stored.embeddings.shape[1])
        generation = uuid.uuid4().hex
        p = self.prefix
        with self._guard("write"), self._transaction() as cur:
            self._create_tables(cur, dim)
            for table in ("items", "classes", "background", "meta"):
                cur.execute(f"DELETE FROM {p}{table}")
            self._put_meta(cur, {**stored.settings, "dim": dim, "generation": generation})
            self._insert(
                cur, 0, stored.class_names, 0, stored.embeddings, stored.labels, stored.radius
            )
            if stored.background is not None:
                self._insert_background(cur, stored.background)
            self._index_rows(cur, stored.settings)
        return generation

    def append(
        self,
        *,
        items: int,
        classes: int,
        new_classes: Sequence[str],
        embeddings: np.ndarray,
        labels: np.ndarray,
        radius: np.ndarray | None,
    ) -> None:
        """Add ``new_classes`` and the rows ``embeddings`` / ``labels`` (/ ``radius``) in one
        transaction, after the ``items`` rows and ``classes`` classes this gallery holds.

        Raises:
            ConfigError: the store holds another number of rows (another writer changed it).
        """
        p = self.prefix
        with self._guard("write"), self._transaction() as cur:
            self._lock_rows(cur)  # the count below stays true until the commit
            cur.execute(
                f"SELECT (SELECT COUNT(*) FROM {p}items), (SELECT COUNT(*) FROM {p}classes)"
            )
            have = tuple(int(v) for v in cur.fetchone())
            if have != (items, classes):
                raise ConfigError(
                    f"{self.where}: holds {have[0]} items of {have[1]} classes, but this gallery "
                    f"read {items} of {classes}: another process changed it; load it again"
                )
            self._insert(cur, classes, list(new_classes), items, embeddings, labels, radius)

    def update_settings(self, settings: dict[str, Any]) -> None:
        """Write settings (threshold, calibration, ...) in one transaction."""
        with self._guard("write"), self._transaction() as cur:
            self._put_meta(cur, settings)

    def set_crowding(
        self, settings: dict[str, Any], background: np.ndarray | None, radius: np.ndarray | None
    ) -> None:
        """Replace the crowding background and every item's radius in one transaction."""
        p, ph = self.prefix, self.placeholder
        with self._guard("write"), self._transaction() as cur:
            cur.execute(f"DELETE FROM {p}background")
            if background is not None:
                self._insert_background(cur, background)
            values = (
                [] if radius is None else [(float(r), i) for i, r in enumerate(radius.tolist())]
            )
            if values:
                cur.executemany(f"UPDATE {p}items SET radius = {ph} WHERE id = {ph}", values)
            else:
                cur.execute(f"UPDATE {p}items SET radius = NULL")
            self._put_meta(cur, settings)

    # ---------------------------------------------------------------- internals
    def _meta(self) -> dict[str, Any]:
        with self._guard("read"), self._transaction() as cur:
            cur.execute(f"SELECT key, value FROM {self.prefix}meta")
            rows = cur.fetchall()
        try:
            return {str(k): json.loads(v) for k, v in rows}
        except (json.JSONDecodeError, TypeError) as exc:
            raise ModelFileError(
                f"{self.where}: corrupt settings ({exc}); re-save the gallery"
            ) from None

    def _put_meta(self, cur: Any, values: dict[str, Any]) -> None:
        p, ph = self.prefix, self.placeholder
        for key, value in values.items():
            cur.execute(f"DELETE FROM {p}meta WHERE key = {ph}", (key,))
            cur.execute(
                f"INSERT INTO {p}meta (key, value) VALUES ({ph}, {ph})", (key, json.dumps(value))
            )

    def _insert(
        self,
        cur: Any,
        first_class: int,
        class_names: list[str],
        first_item: int,
        embeddings: np.ndarray,
        labels: np.ndarray,
        radius: np.ndarray | None,
    ) -> None:
        p, ph = self.prefix, self.placeholder
        cur.executemany(
            f"INSERT INTO {p}classes (id, name) VALUES ({ph}, {ph})",
            [(first_class + i, n) for i, n in enumerate(class_names)],
        )
        rad = [None] * len(labels) if radius is None else [float(r) for r in radius.tolist()]
        cur.executemany(
            f"INSERT INTO {p}items (id, class_id, embedding, radius) VALUES ({ph}, {ph}, {ph}, {ph})",
            [
                (first_item + i, int(c), self._vector(e), r)
                for i, (c, e, r) in enumerate(zip(labels.tolist(), embeddings, rad, strict=True))
            ],
        )

    def _insert_background(self, cur: Any, background: np.ndarray) -> None:
        ph = self.placeholder
        cur.executemany(
            f"INSERT INTO {self.prefix}background (id, embedding) VALUES ({ph}, {ph})",
            [(i, self._vector(e)) for i, e in enumerate(background)],
        )

    def _guard(self, action: str) -> _Guard:
        return _Guard(self, action)


class _Guard:
    """Turn the database's own errors into one clear ``ModelFileError`` line."""

    def __init__(self, store: GalleryStore, action: str):
        self.store, self.action = store, action

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and isinstance(exc, self.store._database_errors()):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(
                f"{self.store.where}: cannot {self.action} the gallery database ({first}); check "
                "that it exists, is a gallery written by this library and is writable"
            ) from None
        return False
