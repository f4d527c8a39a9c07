"""The default gallery store: one SQLite database file in the gallery folder (stdlib ``sqlite3``).

The database runs in WAL mode: a commit appends to ``gallery.db-wal`` and readers never see a
half-written transaction; after a kill, the next open replays the committed frames and drops the
rest. ``synchronous = FULL`` (the default here) also fsyncs the WAL on every commit, so an
acknowledged enrolment survives a power cut, not only a killed process; ``NORMAL`` survives a
killed process and is faster (``benchmarks/gallery_crash.py`` measures both).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from siamese.errors import ConfigError, ModelFileError
from siamese.gallery._store import GalleryStore

SYNCHRONOUS = ("FULL", "NORMAL")


class SQLiteStore(GalleryStore):
    """A gallery in one SQLite file.

    Args:
        path: the database file (created with its tables on the first write).
        synchronous: ``"FULL"`` (fsync on every commit) or ``"NORMAL"``.

    Raises:
        ConfigError: an unknown ``synchronous``. ModelFileError: the file is not a database.
    """

    kind = "sqlite"

    def __init__(self, path: str | Path, synchronous: str = "FULL"):
        if synchronous not in SYNCHRONOUS:
            raise ConfigError(
                f"sqlite synchronous: expected one of {', '.join(SYNCHRONOUS)}, got {synchronous!r}"
            )
        self.path = Path(path)
        self.where = str(self.path)
        self.synchronous = synchronous
        self._lock = threading.Lock()  # one connection, shared by the service's worker threads
        with self._guard("open"):
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            self._conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _create_tables(self, cur: Any, dim: int) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        cur.execute(
            "CREATE TABLE IF NOT EXISTS classes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"
        )
        cur.execute(
            "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, "
            "class_id INTEGER NOT NULL REFERENCES classes(id), embedding BLOB NOT NULL, radius REAL)"
        )
        cur.execute(
            "CREATE TABLE IF NOT EXISTS background (id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)"
        )

    def _vector(self, row: np.ndarray) -> bytes:
        return np.ascontiguousarray(row, dtype="<f4").tobytes()

    def _unvector(self, value: Any, dim: int) -> np.ndarray:
        if not isinstance(value, bytes) or len(value) != 4 * dim:
            raise ModelFileError(
                f"{self.where}: an embedding of {len(value) if isinstance(value, bytes) else '?'} "
                f"bytes, expected {4 * dim} ({dim} float32); re-save the gallery"
            )
        return np.frombuffer(value, dtype="<f4")

    def _database_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def manifest(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.path.name, "synchronous": self.synchronous}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
