"""Candidate negatives for many anchors at once, found with faiss — never an N x N matrix.

For each anchor the search gathers three kinds of candidate negatives and their exact distances
in the full feature space:

* the ``k_near`` nearest items (a faiss ``IndexFlatL2`` k-NN search),
* the ``k_far`` farthest items (exact: a certified pool of outer points, and a faiss
  ``IndexFlatIP`` maximum-inner-product search for the queries the pool cannot certify — see
  ``_farthest.py``),
* ``n_random`` items drawn at random, shared by a chunk of anchors (one matrix product), which
  cover the middle of the distance range.

Items of the anchor's class (the anchor included) are dropped. The anchor's range of negative
distances is ``[d_min, d_max]`` over its candidates. In exact mode (the default for small
problems: ``N * N * D`` up to about 2e11) the k-NN and farthest searches run on the features
themselves and requesting ``k + largest class size`` results guarantees that the true nearest and
farthest negatives are among the candidates, so the range is exact. At scale the two searches
run on a PCA projection to ``search_dim`` dimensions — the k-NN search through a faiss IVF
index (``nprobe`` lists visited per query), the farthest search exact in that space; exact
distances are still recomputed for every candidate in the full space
(faiss ``compute_distance_subset``), so the range is an estimate from inside: ``d_min`` may be
slightly above and ``d_max`` slightly below the true values.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from siamese.errors import ConfigError, DataError
from siamese.mining._farthest import FarthestSearch

EXACT_BUDGET = 2e11  # N * N * D up to which the searches run on the full features
FAST_SCAN_FROM = 200_000  # items from which the approximate k-NN index uses fast-scan codes
SEARCH_METRICS = ("euclidean", "cosine")


@dataclass(frozen=True)
class SearchOptions:
    """How candidate negatives are searched.

    Attributes:
        k_near: nearest negatives kept per anchor (after items of its class are dropped).
        k_far: farthest negatives kept per anchor.
        n_random: random items shared by each chunk of anchors (all items when N is smaller).
        exact: search the full features (True), a PCA projection (False), or decide by size (None).
        search_dim: the PCA dimension used when the search is not exact.
        nprobe: inverted lists visited per query by the approximate (IVF) searches.
        chunk: anchors processed together (bounds the memory of the gathered candidates).
        fast_scan: the approximate k-NN index stores 4-bit product-quantisation codes scanned
            with SIMD (faiss ``IndexIVFPQFastScan``, about 6x faster per query than
            ``IndexIVFFlat``) instead of the projected vectors: True, False, or decide by size
            (None: from ``FAST_SCAN_FROM`` items). The candidates' distances are exact either way.
        certify_far: the farthest search is exact in its space (the pool's answers certified,
            the rest rescanned) or takes the pool's top ``k_far`` (False); None: exact unless
            the k-NN uses fast-scan codes (there, each rescan would read every item).
    """

    k_near: int = 32
    k_far: int = 8
    n_random: int = 512
    exact: bool | None = None
    search_dim: int = 64
    nprobe: int = 16
    chunk: int = 1024
    fast_scan: bool | None = None
    certify_far: bool | None = None


@dataclass
class Candidates:
    """Candidate negatives of a chunk of ``B`` anchors.

    Attributes:
        index: ``(B, C)`` dataset positions of the candidates.
        dist: ``(B, C)`` their exact distances to the anchor.
        valid: ``(B, C)`` false for padding and for items of the anchor's class.
    """

    index: np.ndarray
    dist: np.ndarray
    valid: np.ndarray


class NegativeSearch:
    """Faiss indexes over a feature space, answering "which negatives, at which distances".

    Args:
        features: ``(N, D)`` features of every item (any float dtype; kept as float32).
        labels: ``(N,)`` integer labels.
        distance: ``"euclidean"`` (``|x - y|``) or ``"cosine"`` (``1 - cos(x, y)``).
        options: search sizes and the exact/approximate choice.
        seed: drives the random candidates and the PCA sample.

    Raises:
        DataError: features of the wrong shape or with non-finite values.
        ConfigError: unknown distance or an option out of range.
    """

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        *,
        distance: str = "euclidean",
        options: SearchOptions | None = None,
        seed: int = 0,
    ):
        self.options = opts = options or SearchOptions()
        if distance not in SEARCH_METRICS:
            raise ConfigError(
                f"distance: hardness is measured with {' or '.join(SEARCH_METRICS)}, "
                f"got {distance!r}"
            )
        if min(opts.k_near, opts.k_far, opts.search_dim, opts.chunk) < 1 or opts.n_random < 0:
            raise ConfigError(f"search options: sizes must be positive, got {opts}")
        labels = np.asarray(labels, dtype=np.int64)
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or len(x) != len(labels):
            raise DataError(
                f"features: expected shape ({len(labels)}, D), one row per item, got {x.shape}"
            )
        if not np.isfinite(x).all():
            raise DataError("features: found NaN or infinite values; check the feature extractor")
        if distance == "cosine":
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        n, d = x.shape
        self.x, self.labels, self.distance_name = x, labels, distance
        self.sq = np.einsum("nd,nd->n", x, x)  # (N,)
        self.rng = np.random.default_rng(seed)
        self.exact = (
            bool(n * n * d <= EXACT_BUDGET or d <= opts.search_dim)
            if opts.exact is None
            else opts.exact
        )
        sv = x if self.exact else self._pca(x, opts.search_dim)
        self.search_vectors = sv
        self._near = self._knn_index(sv)
        certify = opts.certify_far if opts.certify_far is not None else not self.fast_scan
        self._far = FarthestSearch(sv, certify=certify)
        largest = int(np.bincount(labels - labels.min()).max()) if n else 0
        self.k_near = min(n, opts.k_near + largest, 2048)
        self.k_far = min(n, opts.k_far + largest, 2048)

    def _knn_index(self, v: np.ndarray) -> faiss.Index:
        """A flat L2 index (exact mode) or an IVF index with ``2 sqrt(N)`` lists over ``v``."""
        n, d = v.shape
        if self.exact:
            index = faiss.IndexFlatL2(d)
            index.add(v)
            self.fast_scan = False
            return index
        nlist = int(np.clip(2 * np.sqrt(n), 16, 4096))
        quantizer = faiss.IndexFlatL2(d)
        fast = self.options.fast_scan
        if fast is None:
            fast = n >= FAST_SCAN_FROM and d % 2 == 0
        if fast:  # d/2 sub-quantisers of 4 bits: 2 dimensions per code
            index = faiss.IndexIVFPQFastScan(quantizer, d, nlist, max(1, d // 2), 4)
        else:
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
        self.fast_scan = bool(fast)
        index.cp.niter = 8
        index.cp.seed = int(self.rng.integers(2**31))
        train = v if n <= 40 * nlist else v[self.rng.choice(n, size=40 * nlist, replace=False)]
        index.train(np.ascontiguousarray(train))
        index.add(v)
        index.nprobe = self.options.nprobe
        self._keep = [*getattr(self, "_keep", []), quantizer]  # the index does not own it
        return index

    def __len__(self) -> int:
        return len(self.x)

    def _pca(self, x: np.ndarray, dim: int) -> np.ndarray:
        """Project onto the top ``dim`` principal axes of a sample of at most 16,384 rows.

        The axes come from subspace iteration on the sample's covariance (a few products of a
        ``D x D`` matrix with a ``D x (dim + 8)`` block), far cheaper than a full eigensolve.
        """
        n, d = x.shape
        sample = x[np.sort(self.rng.choice(n, size=min(n, 16_384), replace=False))]
        mean = sample.mean(axis=0)  # (D,)
        centred = sample - mean
        cov = (centred.T @ centred / len(sample)).astype(np.float64)  # (D, D)
        basis = self.rng.standard_normal((d, min(dim + 8, d)))  # (D, q)
        for _ in range(5):
            basis = _orthonormal(cov @ basis)  # (D, q)
        _, vecs = np.linalg.eigh(basis.T @ cov @ basis)  # (q, q), ascending
        proj = (basis @ vecs[:, ::-1][:, :dim]).astype(np.float32)  # (D, dim)
        out = x @ proj - (mean @ proj)[None, :]  # (N, dim)
        return np.ascontiguousarray(out, dtype=np.float32)

    def to_distance(self, sq: np.ndarray) -> np.ndarray:
        """Squared euclidean distances of stored (normalised, for cosine) features -> distances."""
        sq = np.maximum(sq, 0.0)
        return sq / 2.0 if self.distance_name == "cosine" else np.sqrt(sq)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact row-wise distance between items ``a[i]`` and ``b[i]``: ``(M,), (M,) -> (M,)``."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        out = np.empty(len(a), dtype=np.float64)
        for s in range(0, len(a), 4096):
            diff = self.x[a[s : s + 4096]] - self.x[b[s : s + 4096]]  # (m, D)
            out[s : s + 4096] = np.einsum("md,md->m", diff, diff)
        return self.to_distance(out)

    @property
    def width(self) -> int:
        """Candidates per anchor: ``k_near + k_far`` searched plus the shared random items."""
        return self.k_near + self.k_far + min(len(self.x), self.options.n_random)

    def candidates(self, anchor: np.ndarray) -> Candidates:
        """Candidate negatives and their exact distances for anchors ``(B,)`` (B <= ``chunk``)."""
        index, sq, valid = self.raw_candidates(anchor)
        return Candidates(index=index, dist=self.to_distance(sq.astype(np.float64)), valid=valid)

    def searched(self, anchor: np.ndarray) -> np.ndarray:
        """The k-NN and farthest candidates of anchors ``(B,)``: ``(B, k_near + k_far)`` int64.

        Any number of anchors at once: faiss answers a large batch faster per query.
        """
        q = self.search_vectors[np.asarray(anchor, dtype=np.int64)]  # (B, d)
        _, near = self._near.search(q, self.k_near)  # (B, k_near)
        far = self._far.search(q, self.k_far)  # (B, k_far)
        return np.concatenate([near, far], axis=1).astype(np.int64)  # (B, K)

    def raw_candidates(
        self, anchor: np.ndarray, searched: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``candidates`` before the distance transform, for storing compactly.

        Args:
            anchor: ``(B,)`` anchors (B <= ``chunk``: they share one draw of random items).
            searched: their ``searched(anchor)`` when already known.

        Returns:
            ``(B, W)`` int64 positions, ``(B, W)`` float32 squared euclidean distances of the
            stored (normalised, for cosine) features, ``(B, W)`` validity.
        """
        anchor = np.asarray(anchor, dtype=np.int64)
        gathered = self.searched(anchor) if searched is None else searched  # (B, K)
        sq_g = self._gathered_sq(anchor, gathered)  # (B, K)
        n = len(self.x)
        n_rand = self.options.n_random
        shared = np.arange(n) if n <= n_rand else self.rng.choice(n, size=n_rand, replace=False)
        dots = self.x[anchor] @ self.x[shared].T  # (B, S)
        sq_s = self.sq[anchor][:, None] + self.sq[shared][None, :] - 2.0 * dots  # (B, S)
        index = np.concatenate([gathered, np.broadcast_to(shared, (len(anchor), len(shared)))], 1)
        sq = np.concatenate([sq_g, sq_s.astype(np.float32, copy=False)], axis=1)  # (B, W)
        valid = (index >= 0) & (self.labels[np.maximum(index, 0)] != self.labels[anchor][:, None])
        return np.maximum(index, 0), sq, valid

    def _gathered_sq(self, anchor: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Exact squared distances from anchors to their candidates: ``(B,), (B, K) -> (B, K)``.

        faiss computes them pair by pair (``pairwise_indexed_L2sqr``) on the stored features,
        without gathering the candidates into a ``(B, K, D)`` block or copying the features
        into an index.
        """
        idx = np.ascontiguousarray(np.maximum(idx, 0), dtype=np.int64)  # (B, K)
        rows = np.ascontiguousarray(np.repeat(anchor, idx.shape[1]), dtype=np.int64)  # (B K,)
        out = np.empty(idx.shape, dtype=np.float32)
        faiss.pairwise_indexed_L2sqr(
            self.x.shape[1],
            rows.size,
            faiss.swig_ptr(self.x),
            faiss.swig_ptr(rows),
            faiss.swig_ptr(self.x),
            faiss.swig_ptr(idx),
            faiss.swig_ptr(out),
        )
        return out


def _orthonormal(y: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning ``y`` ``(D, q)``, through the small ``q x q`` Gram matrix."""
    w, v = np.linalg.eigh(y.T @ y)  # (q,), (q, q)
    return y @ (v / np.sqrt(np.maximum(w, 1e-30 * w.max())))
