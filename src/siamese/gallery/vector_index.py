"""A faiss index over embeddings: exact for small galleries, HNSW for large ones.

The index speaks the gallery's distance: ``l2`` (squared euclidean, ``IndexFlatL2``), ``ip``
(inner product on L2-normalised vectors, ``IndexFlatIP``: cosine) or ``l1``. Search results are raw
faiss scores (squared L2, inner product or L1); the ``Gallery`` turns them into the model's distance.
Indexes are persisted with ``faiss.write_index``/``read_index`` (a faiss file, never a pickle).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import faiss
import numpy as np

from siamese.errors import ConfigError, ModelFileError
from siamese.gallery._gpu_index import searchable

KINDS = ("auto", "exact", "hnsw", "ivf")
METRICS = {"l2": faiss.METRIC_L2, "ip": faiss.METRIC_INNER_PRODUCT, "l1": faiss.METRIC_L1}
AUTO_EXACT_MAX = 20_000  # below this many vectors exact search is fast enough (< 1 ms per query)


class VectorIndex:
    """Nearest-neighbour search over ``(N, D)`` float32 vectors.

    Args:
        dim: the vectors' dimension.
        metric: ``"l2"`` (squared euclidean), ``"ip"`` (inner product; pass normalised vectors
            for cosine) or ``"l1"``.
        kind: ``"exact"`` (``IndexFlat``: brute force, every result exact), ``"hnsw"``
            (``IndexHNSWFlat``: a graph index, approximate, ~5x faster on 70,000 vectors),
            ``"ivf"`` (``IndexIVFFlat``, trained on the first vectors added, ``4 sqrt(N)`` lists,
            ``nprobe`` searched) or ``"auto"``: exact up to ``auto_exact_max`` vectors, then
            rebuilt as HNSW once the gallery grows past it.
        hnsw_m: HNSW graph degree (memory and build time grow with it; recall too).
        ef_construction: HNSW build-time beam width.
        ef_search: HNSW search beam width (raised to ``k`` when a search asks for more).
        auto_exact_max: the size at which ``"auto"`` switches to HNSW.
        nprobe: IVF lists searched per query.

    Raises:
        ConfigError: unknown ``kind`` or ``metric``, or ``dim < 1``.
    """

    def __init__(
        self,
        dim: int,
        metric: str = "l2",
        kind: str = "auto",
        *,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 64,
        auto_exact_max: int = AUTO_EXACT_MAX,
        nprobe: int = 16,
    ):
        if kind not in KINDS:
            raise ConfigError(f"index: expected one of {', '.join(KINDS)}, got {kind!r}")
        if metric not in METRICS:
            raise ConfigError(f"index metric: expected one of {', '.join(METRICS)}, got {metric!r}")
        if int(dim) < 1:
            raise ConfigError(f"index dim: expected a positive embedding dimension, got {dim}")
        self.dim = int(dim)
        self.metric = metric
        self.kind = kind
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.auto_exact_max = auto_exact_max
        self.nprobe = nprobe
        self.index: faiss.Index = self._new("exact" if kind == "auto" else kind)
        self.gpu = "off"  # "auto" / "on": search a faiss-gpu copy (siamese.gallery._gpu_index)

    @property
    def ntotal(self) -> int:
        """Number of vectors in the index."""
        return int(self.index.ntotal)

    @property
    def structure(self) -> str:
        """What is in use now: ``"exact"``, ``"hnsw"`` or ``"ivf"`` (``"auto"`` resolves to one)."""
        if isinstance(self.index, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if isinstance(self.index, faiss.IndexIVF) else "exact"

    def __len__(self) -> int:
        return self.ntotal

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; their ids continue from ``ntotal``.

        Raises:
            ConfigError: the vectors are not ``(N, dim)``.
        """
        x = self._check(vectors, "vectors")  # (N, D)
        if (
            self.kind == "auto"
            and self.structure == "exact"
            and self.ntotal + len(x) > self.auto_exact_max
        ):
            old = self.index.reconstruct_n(0, self.ntotal) if self.ntotal else x[:0]  # (n, D)
            self.index = self._new("hnsw")
            x = np.concatenate([old, x]).astype(np.float32)
        if len(x) and not self.index.is_trained:  # IVF: cluster the first vectors added
            self.index = self._new("ivf", len(x))
            self.index.train(x)
        if len(x):
            self.index.add(x)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest stored vectors of each query.

        Returns:
            ``(scores, ids)``, both ``(Q, k)``: raw faiss scores (squared L2 / L1 ascending, inner
            product descending) and row ids; id ``-1`` pads rows when fewer than ``k`` exist.
        """
        q = self._check(queries, "queries")  # (Q, D)
        k = max(1, min(int(k), max(self.ntotal, 1)))
        if isinstance(self.index, faiss.IndexHNSW):
            self.index.hnsw.efSearch = max(self.ef_search, k)
        if isinstance(self.index, faiss.IndexIVF):
            self.index.nprobe = self.nprobe
        if self.ntotal == 0:
            return np.full((len(q), k), np.nan, np.float32), np.full((len(q), k), -1, np.int64)
        scores, ids = searchable(self).search(q, k)  # (Q, k), (Q, k)
        return scores, ids

    def save(self, path: str | Path) -> None:
        """Write the index to ``path`` with ``faiss.write_index`` (atomically, via a rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            faiss.write_index(self.index, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(
        cls, path: str | Path, *, metric: str, kind: str = "auto", **options: int
    ) -> VectorIndex:
        """Read an index written by ``save``.

        Args:
            path: the faiss index file.
            metric, kind, options: as given to the constructor when the index was built.

        Raises:
            ModelFileError: the file is missing, corrupt or of another metric.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path}: missing vector index file; re-save the gallery")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise ModelFileError(
                f"{path}: corrupt vector index ({first}); re-save the gallery"
            ) from None
        if index.metric_type != METRICS.get(metric, -1):
            raise ModelFileError(
                f"{path}: index metric {index.metric_type} does not match the gallery's {metric!r}; "
                "re-save the gallery"
            )
        out = cls(index.d, metric, kind, **options)
        out.index = index
        return out

    def _new(self, structure: str, n_train: int = 0) -> faiss.Index:
        metric = METRICS[self.metric]
        if structure == "ivf":
            nlist = int(np.clip(4 * np.sqrt(max(n_train, 1)), 1, max(n_train // 39, 1)))
            return faiss.IndexIVFFlat(faiss.IndexFlat(self.dim, metric), self.dim, nlist, metric)
        if structure == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, metric)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
            return index
        return faiss.IndexFlat(self.dim, metric)

    def _check(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ConfigError(f"index {what}: expected shape (N, {self.dim}), got {tuple(x.shape)}")
        return np.ascontiguousarray(x)
