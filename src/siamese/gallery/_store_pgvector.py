"""The distributed gallery store: PostgreSQL with the pgvector extension (``psycopg``).

The rows live in four tables named after the gallery (``<name>_meta``, ``<name>_classes``,
``<name>_items`` with a ``vector(D)`` column, ``<name>_background``) on a server that any number
of machines can reach. Every change is one transaction; an enrolment takes the items table's
lock, so two writers cannot interleave, and a writer that read an older state is refused.

Search runs on the server: ``ORDER BY embedding <-> query LIMIT k`` for euclidean distances,
``<=>`` for cosine, through an HNSW index (``CREATE INDEX ... USING hnsw``, built with the rows
in the same transaction and kept up to date by every enrolment), or exact (a sequential scan)
when the gallery's ``index`` is ``"exact"``, or ``"auto"`` up to ``AUTO_EXACT_MAX`` rows. Loading
such a gallery reads its settings, class names and row count, never the rows: ``embeddings_``
and ``labels_`` are ``StoredRows`` that fetch what is indexed (the search returns each hit's
class with it). A pair-head model's L1 search (pgvector 0.6 has no L1 operator) and a gallery
with the crowding correction (a radius per row) read the rows and search with faiss instead.

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
from siamese.gallery._store import GalleryStore, StoredGallery
from siamese.gallery._stored_rows import StoredRows
from siamese.gallery.vector_index import AUTO_EXACT_MAX

DSN_ENV = "SIAMESE_GALLERY_DSN"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_OPERATORS = {"l2": "<->", "ip": "<=>"}  # euclidean distance; cosine distance
_HNSW_OPS = {"l2": "vector_l2_ops", "ip": "vector_cosine_ops"}
# The HNSW search beam (raised to 2k for a k-wide search). pgvector's default 40 found the true
# nearest of 100,000 random 64-d rows for 58% of queries, 200 for 85% at 11 ms (exact: 67 ms),
# 400 for 94% at 16 ms (benchmarks/gallery_scale.py --pgvector, a worst case: no clusters).
EF_SEARCH = 200
EF_SEARCH_MAX = 1000  # pgvector's limit on hnsw.ef_search: wider searches run exact
_CLASS_CACHE_MAX = 1_000_000  # ids whose class a search returned, kept for labels_[ids]


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
        self._class_of: dict[int, int] = {}  # item id -> class id, from search results
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
        """The base class's rows, written with COPY (one stream instead of a statement per row:
        100,000 rows in seconds)."""
        p = self.prefix
        with cur.copy(f"COPY {p}classes (id, name) FROM STDIN") as copy:
            for i, name in enumerate(class_names):
                copy.write_row((first_class + i, name))
        rad = [None] * len(labels) if radius is None else [float(r) for r in radius.tolist()]
        with cur.copy(f"COPY {p}items (id, class_id, embedding, radius) FROM STDIN") as copy:
            for i, (c, e, r) in enumerate(zip(labels.tolist(), embeddings, rad, strict=True)):
                copy.write_row((first_item + i, int(c), self._vector(e), r))

    def _index_rows(self, cur: Any, settings: dict[str, Any]) -> None:
        ops = _HNSW_OPS.get(str(settings.get("metric")))
        if ops is not None:  # built once over all rows (faster than row by row), then updated
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")  # the graph fits: fast build
            cur.execute(
                f"CREATE INDEX {self.prefix}items_hnsw ON {self.prefix}items "
                f"USING hnsw (embedding {ops})"
            )

    def read(self) -> StoredGallery:
        """The settings, class names and row count; the rows stay on the server (``StoredRows``)
        unless a faiss search or the crowding correction needs them in memory."""
        meta = self._meta()
        if meta.get("metric") not in _OPERATORS or meta.get("crowding"):
            return super().read()
        p, dim = self.prefix, int(meta.get("dim", 0))
        with self._guard("read"), self._transaction() as cur:
            cur.execute(f"SELECT id, name FROM {p}classes ORDER BY id")
            classes = cur.fetchall()
            cur.execute(
                f"SELECT COUNT(*), MIN(id), MAX(id), MIN(class_id), MAX(class_id) FROM {p}items"
            )
            n, lo, hi, c_lo, c_hi = cur.fetchone()
        names = [str(name) for _, name in classes]
        n = int(n)
        if [int(i) for i, _ in classes] != list(range(len(names))) or (
            n and (int(lo), int(hi)) != (0, n - 1)
        ):
            raise ModelFileError(
                f"{self.where}: class or item ids are not 0..n-1; re-save the gallery"
            )
        if n and not 0 <= int(c_lo) <= int(c_hi) < len(names):
            raise ModelFileError(f"{self.where}: an item's class id has no class name; re-save")
        settings = {k: v for k, v in meta.items() if k not in ("generation", "dim")}
        return StoredGallery(
            settings,
            names,
            StoredRows(self, "embedding", n, dim),
            StoredRows(self, "class_id", n),
            None,
            None,
            meta["generation"],
        )

    def fetch(self, column: str, ids: np.ndarray | None, count: int) -> np.ndarray:
        """``column`` (embedding or class_id) of items ``ids`` (None: ``0..count-1``)."""
        if column == "class_id" and ids is not None and all(int(i) in self._class_of for i in ids):
            return np.array([self._class_of[int(i)] for i in ids], dtype=np.int64)
        return self._fetch_rows(column, ids, count)

    def _fetch_rows(self, column: str, ids: np.ndarray | None, count: int) -> np.ndarray:
        p = self.prefix
        with self._guard("read"), self._transaction() as cur:
            if ids is None:
                cur.execute(
                    f"SELECT id, {column} FROM {p}items WHERE id < %s ORDER BY id", (count,)
                )
            else:
                cur.execute(
                    f"SELECT id, {column} FROM {p}items WHERE id = ANY(%s)",
                    ([int(i) for i in ids],),
                )
            rows = dict(cur.fetchall())
        wanted = range(count) if ids is None else [int(i) for i in ids]
        if any(i not in rows for i in wanted):
            raise ModelFileError(f"{self.where}: items are missing from the table; re-save")
        if column == "class_id":
            return np.array([int(rows[i]) for i in wanted], dtype=np.int64)
        dim = int(self._meta().get("dim", 0))
        out = np.zeros((len(wanted), dim), dtype=np.float32)
        for j, i in enumerate(wanted):
            out[j] = self._unvector(rows[i], dim)
        return out

    def vector_index(self, metric: str, dim: int, rows: int, kind: str) -> PgVectorIndex | None:
        if metric not in _OPERATORS:
            return None
        return PgVectorIndex(self, int(dim), metric, int(rows), kind)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        metric: str,
        rows: int,
        *,
        exact: bool = False,
        ef_search: int = EF_SEARCH,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest of the first ``rows`` stored items per query, as faiss would score
        them: squared euclidean distance (``l2``) or cosine similarity (``ip``).

        Through the HNSW index (approximate; ``hnsw.ef_search`` = max(ef_search, 2k): a wider
        beam finds more of the true neighbours, slower) unless ``exact`` or ``2k`` is beyond
        ``EF_SEARCH_MAX``: then a sequential scan, exact. Each hit's class is
        kept for ``labels_[ids]``.
        """
        op, p = _OPERATORS[metric], self.prefix
        beam = min(max(int(ef_search), 2 * int(k)), EF_SEARCH_MAX)
        exact = exact or 2 * k > EF_SEARCH_MAX
        sql = (
            "SELECT q.ord, s.id, s.d, s.class_id FROM unnest(%s::text[]::vector[]) WITH "
            f"ORDINALITY AS q(v, ord) CROSS JOIN LATERAL (SELECT id, class_id, embedding {op} q.v "
            f"AS d FROM {p}items WHERE id < %s ORDER BY embedding {op} q.v LIMIT %s) s "
            "ORDER BY q.ord, s.d, s.id"
        )
        with self._guard("search"), self._transaction() as cur:
            if exact:  # the planner then sorts every row: exact by construction
                cur.execute("SET LOCAL enable_indexscan = off")
                cur.execute("SET LOCAL enable_bitmapscan = off")
            else:
                cur.execute(f"SET LOCAL hnsw.ef_search = {beam}")
            cur.execute(sql, ([self._vector(q) for q in queries], rows, k))
            found = cur.fetchall()
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        dist = np.full((len(queries), k), np.nan, dtype=np.float64)
        filled = np.zeros(len(queries), dtype=np.int64)
        if len(self._class_of) > _CLASS_CACHE_MAX:
            self._class_of.clear()
        for ord_, i, d, c in found:
            q = int(ord_) - 1
            ids[q, filled[q]], dist[q, filled[q]] = int(i), float(d)
            filled[q] += 1
            self._class_of[int(i)] = int(c)
        scores = dist * dist if metric == "l2" else 1.0 - dist
        return scores.astype(np.float32), ids

    def has_hnsw_index(self) -> bool:
        """Whether the items table has its HNSW index (galleries saved before it have none:
        their searches are exact until the gallery is saved again)."""
        with self._guard("read"), self._transaction() as cur:
            cur.execute(
                "SELECT 1 FROM pg_indexes WHERE tablename = %s AND indexname = %s",
                (f"{self.prefix}items", f"{self.prefix}items_hnsw"),
            )
            return cur.fetchone() is not None


class PgVectorIndex:
    """The ``VectorIndex`` interface over a ``PgVectorStore``: search runs on the server.

    ``kind`` is the gallery's index choice: ``"exact"`` searches exactly; ``"auto"`` searches
    exactly up to ``AUTO_EXACT_MAX`` rows and through HNSW beyond; ``"hnsw"`` (and ``"ivf"``)
    through HNSW. ``add`` only counts: the rows were committed by the store before the gallery
    adds them here.
    """

    structure = "pgvector"

    def __init__(
        self, store: PgVectorStore, dim: int, metric: str, ntotal: int, kind: str = "auto"
    ):
        self.store, self.dim, self.metric, self._ntotal = store, dim, metric, ntotal
        self.kind = kind

    @property
    def exact(self) -> bool:
        """Whether searches now are exact (``kind`` and the row count decide)."""
        return self.kind == "exact" or (self.kind == "auto" and self._ntotal <= AUTO_EXACT_MAX)

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
        return self.store.search(q, k, self.metric, self._ntotal, exact=self.exact)
