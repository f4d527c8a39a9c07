"""The distributed gallery store: PostgreSQL with the pgvector extension (``psycopg``).

The rows live in four tables named after the gallery (``<name>_meta``, ``<name>_classes``,
``<name>_items`` with a ``vector(D)`` column, ``<name>_background``) on a server that any number
of machines can reach. Every change is one transaction; an enrolment takes the items table's
lock, so two writers cannot interleave, and a writer that read an older state is refused. Search
runs on the server (``ORDER BY embedding <-> query`` for euclidean distances, ``<=>`` for cosine;
exact), for the rows this process has read; a pair-head model's L1 search (pgvector 0.6 has no L1
operator) uses a faiss index built from the stored rows instead.

The gallery folder keeps the model and a manifest naming the table prefix and the environment
variable that holds the DSN (a DSN may carry a password: it is never written to a file).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from siamese.errors import ConfigError, ModelFileError
from siamese.gallery._store import GalleryStore

DSN_ENV = "SIAMESE_GALLERY_DSN"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_OPERATORS = {"l2": "<->", "ip": "<=>"}  # euclidean distance; cosine distance


class PgVectorStore(GalleryStore):
    """A gallery in PostgreSQL + pgvector.

    Args:
        dsn: a libpq connection string (``postgresql://user@host:port/db``).
        name: the gallery's table prefix: lowercase letters, digits and ``_``, up to 40.
        dsn_env: the environment variable a loading process reads the DSN from.

    Raises:
        ConfigError: a bad ``name``. ModelFileError: the server cannot be reached.
    """

    kind = "pgvector"
    placeholder = "%s"

    def __init__(self, dsn: str, name: str, *, dsn_env: str = DSN_ENV):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"pgvector gallery name {name!r}: expected lowercase letters, digits and _ "
                "(starting with a letter, at most 40)"
            )
        import psycopg

        self.name, self.dsn_env = name, dsn_env
        self.prefix = f"{name}_"
        self.where = f"pgvector gallery {name!r}"
        self._psycopg = psycopg
        self._lock = threading.Lock()
        with self._guard("connect to"):
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)

    @classmethod
    def from_manifest(cls, spec: dict[str, Any], dsn: str | None, *, where: str) -> PgVectorStore:
        """The store a ``gallery.json`` names; the DSN from ``dsn`` or the named variable.

        Raises:
            ModelFileError: no DSN, or a manifest without a table name.
        """
        env = str(spec.get("dsn_env") or DSN_ENV)
        dsn = dsn or os.environ.get(env)
        if not dsn:
            raise ModelFileError(
                f"{where}: a PostgreSQL (pgvector) gallery; set ${env} to the server's DSN "
                "(postgresql://user@host:port/db) or pass dsn= to Gallery.load"
            )
        try:
            return cls(dsn, str(spec["table"]), dsn_env=env)
        except (KeyError, ConfigError) as exc:
            raise ModelFileError(f"{where}: bad pgvector store entry ({exc}); re-save") from None

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            yield cur

    def _lock_rows(self, cur: Any) -> None:
        cur.execute(f"LOCK TABLE {self.prefix}items IN EXCLUSIVE MODE")

    def _create_tables(self, cur: Any, dim: int) -> None:
        p = self.prefix
        cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
        for table in ("items", "background", "classes", "meta"):  # a new dimension: new tables
            cur.execute(f"DROP TABLE IF EXISTS {p}{table}")
        cur.execute(f"CREATE TABLE {p}meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        cur.execute(f"CREATE TABLE {p}classes (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        cur.execute(
            f"CREATE TABLE {p}items (id BIGINT PRIMARY KEY, class_id BIGINT NOT NULL "
            f"REFERENCES {p}classes(id), embedding vector({dim}) NOT NULL, radius REAL)"
        )
        cur.execute(
            f"CREATE TABLE {p}background (id BIGINT PRIMARY KEY, embedding vector({dim}) NOT NULL)"
        )

    def _vector(self, row: np.ndarray) -> str:
        return "[" + ",".join(repr(v) for v in np.asarray(row, dtype=np.float32).tolist()) + "]"

    def _unvector(self, value: Any, dim: int) -> np.ndarray:
        try:
            out = np.array(str(value).strip("[]").split(","), dtype=np.float32)
        except ValueError:
            out = np.zeros(0, dtype=np.float32)
        if out.shape != (dim,):
            raise ModelFileError(
                f"{self.where}: an embedding of {out.size} values, expected {dim}; re-save"
            )
        return out

    def _database_errors(self) -> tuple[type[BaseException], ...]:
        return (self._psycopg.Error,)

    def manifest(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.name, "dsn_env": self.dsn_env}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def drop(self) -> None:
        """Delete the gallery's tables from the server."""
        with self._guard("drop"), self._transaction() as cur:
            for table in ("items", "background", "classes", "meta"):
                cur.execute(f"DROP TABLE IF EXISTS {self.prefix}{table}")

    def vector_index(self, gallery: Any) -> PgVectorIndex | None:
        if gallery._metric not in _OPERATORS:
            return None
        dim = gallery.embeddings_.shape[1] if gallery.embeddings_.ndim == 2 else 0
        return PgVectorIndex(self, int(dim), gallery._metric, len(gallery.labels_))

    def search(
        self, queries: np.ndarray, k: int, metric: str, rows: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest of the first ``rows`` stored items per query, as faiss would score
        them: squared euclidean distance (``l2``) or cosine similarity (``ip``)."""
        op, p = _OPERATORS[metric], self.prefix
        sql = (
            "SELECT q.ord, s.id, s.d FROM unnest(%s::text[]) WITH ORDINALITY AS q(v, ord) "
            f"CROSS JOIN LATERAL (SELECT id, embedding {op} q.v::vector AS d FROM {p}items "
            f"WHERE id < %s ORDER BY embedding {op} q.v::vector, id LIMIT %s) s ORDER BY q.ord, s.d"
        )
        with self._guard("search"), self._transaction() as cur:
            cur.execute(sql, ([self._vector(q) for q in queries], rows, k))
            found = cur.fetchall()
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        dist = np.full((len(queries), k), np.nan, dtype=np.float64)
        filled = np.zeros(len(queries), dtype=np.int64)
        for ord_, i, d in found:
            q = int(ord_) - 1
            ids[q, filled[q]], dist[q, filled[q]] = int(i), float(d)
            filled[q] += 1
        scores = dist * dist if metric == "l2" else 1.0 - dist
        return scores.astype(np.float32), ids


class PgVectorIndex:
    """The ``VectorIndex`` interface over a ``PgVectorStore``: search runs on the server.

    ``add`` only counts: the rows were committed by the store before the gallery adds them here.
    """

    structure = "pgvector"

    def __init__(self, store: PgVectorStore, dim: int, metric: str, ntotal: int):
        self.store, self.dim, self.metric, self._ntotal = store, dim, metric, ntotal

    @property
    def ntotal(self) -> int:
        return self._ntotal

    def __len__(self) -> int:
        return self._ntotal

    def add(self, vectors: np.ndarray) -> None:
        self._ntotal += len(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(queries, dtype=np.float32)
        k = max(1, min(int(k), max(self._ntotal, 1)))
        return self.store.search(q, k, self.metric, self._ntotal)
