"""Exact k-farthest-neighbour search: a certified pool of outer points, faiss for the rest.

For centred vectors, ``|x - y|^2 = |x|^2 + s(x, y)`` with the score ``s(x, y) = |y|^2 - 2 x.y``,
so the farthest items maximise ``s``. Farthest points lie on the outside of the cloud: the
search first scores only the ``M`` largest-norm points (a flat faiss inner-product search over
the pool: one matrix product and a heap per query, no sort of the ``(B, M)`` scores). Every point outside
that pool has ``|y| <= r`` (the largest norm left out), hence ``s(x, y) <= r^2 + 2 |x| r``; when
the pool's k-th best score reaches that bound the pool's top k are the true top k — certified.
The few queries that are not certified go to a flat faiss inner-product search over the
augmented vectors ``[y, |y|^2]`` with the query ``[-2x, 1]``, which is exact too.
"""

from __future__ import annotations

import faiss
import numpy as np


class FarthestSearch:
    """The ``k`` farthest items (L2) from query vectors.

    Args:
        vectors: ``(N, d)`` float32 vectors (centred here; distances do not change).
        pool_size: how many of the largest-norm points form the pool.
        certify: check every answer against the bound and rescan the uncertified queries
            (exact); ``False`` returns the pool's top ``k`` as they are (approximate: at a
            million items each rescan reads every item, and an approximate search space gains
            little from exactness in it).
    """

    def __init__(self, vectors: np.ndarray, pool_size: int = 4096, *, certify: bool = True):
        self.mean = vectors.mean(axis=0)  # (d,)
        v = np.ascontiguousarray(vectors - self.mean, dtype=np.float32)  # (N, d)
        self.norm2 = np.einsum("nd,nd->n", v, v)  # (N,)
        order = np.argsort(-self.norm2, kind="stable")
        # without certification the pool must hold any k asked for (no rescan to fall back on)
        m = min(len(v), pool_size if certify else max(pool_size, k_max(len(v))))
        self.pool = order[:m]
        self.outside = float(np.sqrt(self.norm2[order[m]])) if m < len(v) else -np.inf
        aug = np.hstack([v, self.norm2[:, None]])  # (N, d + 1): [y, |y|^2]
        self._pool = faiss.IndexFlatIP(v.shape[1] + 1)
        self._pool.add(aug[self.pool])
        self.certify = certify
        self._flat = faiss.IndexFlatIP(v.shape[1] + 1)
        if self.certify:
            self._flat.add(aug)
        self.fallbacks = 0  # queries the pool could not certify (for diagnostics)

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Indices ``(B, k)`` of the ``k`` farthest items from queries ``(B, d)``, farthest first."""
        q = np.ascontiguousarray(queries - self.mean, dtype=np.float32)  # (B, d)
        k = min(k, len(self.norm2))
        if len(self.pool) < k:
            return self._exact(q, k)
        top_score, top = self._pool.search(_augmented(q), k)  # (B, k) each, best first
        result = self.pool[top]
        if self.certify and np.isfinite(self.outside):
            r = self.outside
            bound = r * r + 2.0 * np.linalg.norm(q, axis=1) * r  # (B,) best score outside the pool
            bound += 1e-4 * np.abs(bound) + 1e-6  # float32 rounding: never certify by luck
            unsure = np.flatnonzero(top_score[:, -1] < bound)
            if len(unsure):
                self.fallbacks += len(unsure)
                result[unsure] = self._exact(q[unsure], k)
        return result

    def _exact(self, q: np.ndarray, k: int) -> np.ndarray:
        _, idx = self._flat.search(_augmented(q), k)
        return idx.astype(np.int64)


def k_max(n: int) -> int:
    """The most results a caller asks for (``NegativeSearch`` caps its searches at 2,048)."""
    return min(n, 2048)


def _augmented(q: np.ndarray) -> np.ndarray:
    """Queries ``(B, d)`` as ``[-2x, 1]`` ``(B, d + 1)``: their inner product with ``[y, |y|^2]``
    is the score ``|y|^2 - 2 x.y``."""
    return np.hstack([-2.0 * q, np.ones((len(q), 1), dtype=np.float32)]).astype(np.float32)
