"""A faiss index over embeddings: exact for small galleries, HNSW for large ones, IVF-PQ for huge.

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

KINDS = ("auto", "exact", "hnsw", "ivf", "ivfpq")
METRICS = {"l2": faiss.METRIC_L2, "ip": faiss.METRIC_INNER_PRODUCT, "l1": faiss.METRIC_L1}
AUTO_EXACT_MAX = 20_000  # below this many vectors exact search is fast enough (< 1 ms per query)
AUTO_IVFPQ_MIN = (
    500_000  # past this many vectors "auto" rebuilds as IVF-PQ (gallery_scale.py --size)
)
IVFPQ_MIN_TRAIN = 1_000  # "ivfpq" searches exactly until this many vectors are there to train on
IVF_TRAIN_PER_LIST = 64  # IVF-PQ k-means runs on at most this many sampled vectors per list


class VectorIndex:
    """Nearest-neighbour search over ``(N, D)`` float32 vectors.

    Args:
        dim: the vectors' dimension.
        metric: ``"l2"`` (squared euclidean), ``"ip"`` (inner product; pass normalised vectors
            for cosine) or ``"l1"``.
        kind: ``"exact"`` (``IndexFlat``: brute force, every result exact), ``"hnsw"``
            (``IndexHNSWFlat``: a graph index, approximate, ~5x faster on 70,000 vectors),
            ``"ivf"`` (``IndexIVFFlat``, trained on the first vectors added, ``4 sqrt(N)`` lists,
            ``nprobe`` searched), ``"ivfpq"`` (``IVF{nlist},PQ{pq_m}x4fs,RFlat``: 4-bit
            fast-scan product-quantisation codes in ``nlist`` lists, ``nprobe`` searched, the
            ``k_factor * k`` best re-ranked by exact distance against a flat copy of the
            vectors, so the scores returned are exact; ``l2`` and ``ip`` only; trained on the
            vectors there when it is built, searched exactly until ``IVFPQ_MIN_TRAIN`` have
            arrived) or ``"auto"``: exact up to ``auto_exact_max`` vectors, then rebuilt as HNSW
            once the gallery grows past it, and as IVF-PQ past ``auto_ivfpq_min`` (``l1``:
            HNSW stays).
        hnsw_m: HNSW graph degree (memory and build time grow with it; recall too).
        ef_construction: HNSW build-time beam width.
        ef_search: HNSW search beam width (raised to ``k`` when a search asks for more).
        auto_exact_max: the size at which ``"auto"`` switches to HNSW.
        nprobe: IVF lists searched per query (default: 16 for ``"ivf"``, 8 for IVF-PQ).
        nlist: IVF-PQ lists (``0``: ``2 sqrt(N)``, at most ``N / 39``).
        pq_m: IVF-PQ sub-quantisers, 4 bits each (``0``: ``dim / 4``); must divide ``dim``.
        k_factor: IVF-PQ re-ranks ``k_factor * k`` candidates exactly.
        auto_ivfpq_min: the size at which ``"auto"`` switches to IVF-PQ.

    Raises:
        ConfigError: unknown ``kind`` or ``metric``, ``dim < 1``, or a parameter out of range
            (named in the message).
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
        nprobe: int | None = None,
        nlist: int = 0,
        pq_m: int = 0,
        k_factor: int = 2,
        auto_ivfpq_min: int = AUTO_IVFPQ_MIN,
    ):
        if kind not in KINDS:
            raise ConfigError(f"index: expected one of {', '.join(KINDS)}, got {kind!r}")
        if metric not in METRICS:
            raise ConfigError(f"index metric: expected one of {', '.join(METRICS)}, got {metric!r}")
        if int(dim) < 1:
            raise ConfigError(f"index dim: expected a positive embedding dimension, got {dim}")
        if kind == "ivfpq" and metric == "l1":
            raise ConfigError(
                "index: 'ivfpq' supports the metrics l2 and ip, got 'l1'; use 'hnsw' or 'exact'"
            )
        self.dim = int(dim)
        self.metric = metric
        self.kind = kind
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.auto_exact_max = auto_exact_max
        self.nprobe = nprobe if nprobe is not None else (16 if kind == "ivf" else 8)
        self.nlist = nlist
        self.pq_m = pq_m or (self.dim // 4 if self.dim % 4 == 0 else 0)
        self.k_factor = k_factor
        self.auto_ivfpq_min = auto_ivfpq_min
        self._check_options(bool(pq_m))
        self.index: faiss.Index = self._new("hnsw" if kind == "hnsw" else "exact")
        if kind == "ivf":
            self.index = self._new("ivf")
        self.gpu = "off"  # "auto" / "on": search a faiss-gpu copy (siamese.gallery._gpu_index)

    @property
    def ntotal(self) -> int:
        """Number of vectors in the index."""
        return int(self.index.ntotal)

    @property
    def structure(self) -> str:
        """What is in use now: ``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"ivfpq"`` (``"auto"``
        resolves to one; ``"ivfpq"`` is ``"exact"`` until it has been trained)."""
        if isinstance(self.index, faiss.IndexHNSW):
            return "hnsw"
        if isinstance(self.index, faiss.IndexRefine):
            return "ivfpq"
        return "ivf" if isinstance(self.index, faiss.IndexIVF) else "exact"

    def __len__(self) -> int:
        return self.ntotal

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; their ids continue from ``ntotal``.

        Raises:
            ConfigError: the vectors are not ``(N, dim)``.
        """
        x = self._check(vectors, "vectors")  # (N, D)
        target = self._target(self.ntotal + len(x))
        if target != self.structure and target in ("hnsw", "ivfpq"):  # rebuild, old rows first
            old = self.index.reconstruct_n(0, self.ntotal) if self.ntotal else x[:0]  # (n, D)
            x = np.concatenate([old, x]).astype(np.float32)
            self.index = self._new(target, len(x))
            if target == "ivfpq":
                self.index.train(x)
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
        if isinstance(self.index, faiss.IndexRefine):
            self.index.k_factor = float(self.k_factor)
            faiss.extract_index_ivf(self.index).nprobe = self.nprobe
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

    def _target(self, n: int) -> str:
        """The structure ``kind`` wants at ``n`` vectors."""
        if self.kind == "ivfpq":
            return "ivfpq" if n >= IVFPQ_MIN_TRAIN or self.structure == "ivfpq" else "exact"
        if self.kind != "auto":
            return self.structure
        if n > self.auto_ivfpq_min and self.metric != "l1" and self._pq_fits():
            return "ivfpq"
        if self.structure == "ivfpq":  # never back: a trained IVF-PQ index stays
            return "ivfpq"
        return "hnsw" if n > self.auto_exact_max else "exact"

    def _new(self, structure: str, n_train: int = 0) -> faiss.Index:
        metric = METRICS[self.metric]
        if structure == "ivf":
            nlist = int(np.clip(4 * np.sqrt(max(n_train, 1)), 1, max(n_train // 39, 1)))
            return faiss.IndexIVFFlat(faiss.IndexFlat(self.dim, metric), self.dim, nlist, metric)
        if structure == "ivfpq":
            nlist = self.nlist or int(np.clip(2 * np.sqrt(n_train), 1, max(n_train // 39, 1)))
            spec = f"IVF{nlist},PQ{self.pq_m}x4fs,RFlat"
            index = faiss.index_factory(self.dim, spec, metric)
            ivf = faiss.extract_index_ivf(index)
            ivf.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST  # k-means on a sample
            return index
        if structure == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, metric)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
            return index
        return faiss.IndexFlat(self.dim, metric)

    def _pq_fits(self) -> bool:
        return self.pq_m >= 1 and self.dim % self.pq_m == 0

    def _check_options(self, pq_m_given: bool) -> None:
        """``ConfigError`` naming the first parameter out of range."""
        positive = {
            "hnsw_m": self.hnsw_m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "nprobe": self.nprobe,
            "k_factor": self.k_factor,
        }
        for key, value in positive.items():
            if int(value) < 1:
                raise ConfigError(f"index {key}: expected a positive integer, got {value}")
        for key, value in (("nlist", self.nlist), ("auto_exact_max", self.auto_exact_max)):
            if int(value) < 0:
                raise ConfigError(f"index {key}: expected 0 or more, got {value}")
        if (self.kind == "ivfpq" or pq_m_given) and not self._pq_fits():
            got = self.pq_m if pq_m_given else f"the default dim / 4 ({self.dim / 4:g})"
            raise ConfigError(
                f"index pq_m: expected a divisor of the dimension {self.dim}, got {got}; "
                "pass pq_m (e.g. the dimension itself)"
            )

    def _check(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ConfigError(f"index {what}: expected shape (N, {self.dim}), got {tuple(x.shape)}")
        return np.ascontiguousarray(x)
