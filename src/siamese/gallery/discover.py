"""Discovery: cluster the queries a gallery answers "unknown" into candidate new classes.

A query is unknown when its nearest enrolled class is farther than the gallery's threshold (set by
``Gallery.calibrate`` for a false-accept rate, or given). The unknown queries are clustered in the
embedding, by the gallery's own distance (``1 - p(same)`` for a pair-head model), with
scikit-learn, never with a fixed number of clusters:

* ``"agglomerative"`` (the default): average linkage cut at ``link_scale`` times the gallery's
  threshold: two groups merge while their members are on average as close as a query must be to
  an enrolled example to be accepted as it.
* ``"hdbscan"``: density-based; ``min_cluster_size`` is its only setting.

Both report groups of fewer than ``min_cluster_size`` queries as noise. Why agglomerative is the
default (``benchmarks/open_world.py``, settings scored by ARI on held-out *training* classes only):
its best setting beat HDBSCAN's best on the traffic embedding (mean ARI 0.500 against 0.000, from
just 6 unknown windows of one held-out class: scikit-learn's HDBSCAN returns no cluster when all
unknowns form one group) and tied it on NSL-KDD (0.740 against 0.738; raw features 0.657 against
0.649); HDBSCAN won on raw traffic features (0.535 against 0.254). The best cut was 0.75 x the
threshold on traffic and 2 x on NSL-KDD: the default 1 x is the threshold itself; ``link_scale``
sets it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from siamese.errors import ConfigError, DataError
from siamese.gallery._results import UNKNOWN, Identification

METHODS = ("agglomerative", "hdbscan")
MAX_UNKNOWN = 10_000  # unknown queries clustered at once: an (n, n) distance matrix
_CHUNK = 1024  # rows of the distance matrix computed at a time


@dataclass(frozen=True)
class Cluster:
    """One candidate new class among the unknown queries.

    Attributes:
        cluster: its id in this discovery (0 = the largest).
        size: how many queries it holds.
        medoid: the query (index into the queries) with the smallest total distance to the others.
        members: the queries it holds (indices into the queries), in query order.
        nearest_class: the enrolled class nearest to the medoid.
        distance: the medoid's distance to that class (beyond the threshold: it is unknown).
        spread: the members' mean distance to the medoid.
    """

    cluster: int
    size: int
    medoid: int
    members: list[int]
    nearest_class: str
    distance: float
    spread: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Discovery:
    """What ``Gallery.discover`` found.

    Attributes:
        queries: how many queries were asked. known: how many were answered with a class.
        unknown: the queries answered "unknown" (indices). clusters: the candidate new classes.
        noise: unknown queries in no cluster (in groups under ``min_cluster_size``).
        method, settings: how they were clustered (``threshold``, ``link_distance``, ...).
        message: one line saying what was found (e.g. that every query is of a known class).
        embeddings: ``(len(unknown), D)`` the unknown queries' embeddings (for
            ``Gallery.enroll_clusters``; not in ``to_dict``).
    """

    queries: int
    known: int
    unknown: list[int]
    clusters: list[Cluster]
    noise: list[int]
    method: str
    settings: dict[str, Any]
    message: str
    embeddings: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("embeddings", "clusters")}
        return {**out, "clusters": [c.to_dict() for c in self.clusters]}

    def members_embeddings(self, cluster: int) -> np.ndarray:
        """``(size, D)`` embeddings of a cluster's members."""
        pos = {q: i for i, q in enumerate(self.unknown)}
        return self.embeddings[[pos[q] for q in self.clusters[cluster].members]]


def check_settings(method: str, min_cluster_size: int, link_scale: float) -> None:
    """Raises ConfigError for an unknown method, ``min_cluster_size < 2`` or ``link_scale <= 0``."""
    if method not in METHODS:
        raise ConfigError(f"discover method: unknown {method!r}; valid: {', '.join(METHODS)}")
    if int(min_cluster_size) < 2:
        raise ConfigError(
            f"min_cluster_size: expected at least 2 queries per cluster, got {min_cluster_size}"
        )
    if not link_scale > 0:
        raise ConfigError(f"link_scale: expected a positive factor, got {link_scale}")


def cluster_distances(
    dist: np.ndarray,
    *,
    method: str = "agglomerative",
    min_cluster_size: int = 3,
    link_distance: float | None = None,
) -> np.ndarray:
    """Cluster labels ``(n,)`` of items with pairwise distances ``dist`` ``(n, n)``; -1 = noise.

    Args:
        dist: symmetric distances with a zero diagonal.
        method: ``"agglomerative"`` (average linkage cut at ``link_distance``) or ``"hdbscan"``.
        min_cluster_size: groups smaller than this are noise.
        link_distance: the agglomerative cut (required for it).

    Returns:
        Labels ``0..C-1`` numbered by decreasing cluster size (ties: first member first), -1 noise.
    """
    from sklearn.cluster import HDBSCAN, AgglomerativeClustering

    check_settings(method, min_cluster_size, 1.0)
    n = len(dist)
    if n < min_cluster_size:
        return np.full(n, -1, dtype=np.int64)
    if method == "hdbscan":
        raw = HDBSCAN(
            min_cluster_size=int(min_cluster_size), metric="precomputed", copy=True
        ).fit_predict(dist.astype(np.float64))
    else:
        if link_distance is None or not link_distance > 0:
            raise ConfigError(
                f"agglomerative clustering: expected a positive link distance, got {link_distance}"
            )
        raw = AgglomerativeClustering(
            n_clusters=None,
            distance_threshold=float(link_distance),
            metric="precomputed",
            linkage="average",
        ).fit_predict(dist.astype(np.float64))
    ids, counts = np.unique(raw[raw >= 0], return_counts=True)
    keep = [c for c, m in zip(ids, counts, strict=True) if m >= min_cluster_size]
    first = {c: int(np.flatnonzero(raw == c)[0]) for c in keep}
    order = sorted(keep, key=lambda c: (-int((raw == c).sum()), first[c]))
    labels = np.full(n, -1, dtype=np.int64)
    for new, c in enumerate(order):
        labels[raw == c] = new
    return labels


def pairwise_distances(model: Any, emb: np.ndarray) -> np.ndarray:
    """``(n, n)`` distances between embeddings ``(n, D)`` as a gallery of ``model`` measures them:
    the model's distance, or ``1 - p(same)`` of its pair head."""
    e = torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32))  # (n, D)
    out = np.zeros((len(e), len(e)), dtype=np.float32)
    for start in range(0, len(e), _CHUNK):
        rows = e[start : start + _CHUNK]  # (c, D)
        if model.head is not None:  # 1 - p(same) of every pair, by the head
            left = rows.repeat_interleave(len(e), 0)  # (c * n, D)
            right = e.repeat(len(rows), 1)  # (c * n, D)
            block = 1.0 - model.similarity(left, right).reshape(len(rows), len(e))
        else:
            block = model.distance.matrix(rows, e)  # (c, n)
        out[start : start + len(rows)] = block.detach().numpy()
    np.fill_diagonal(out, 0.0)
    return np.maximum((out + out.T) / 2, 0.0)  # symmetric (float rounding), non-negative


def discover(
    embeddings: np.ndarray,
    identify: Callable[[np.ndarray], list[Identification]],
    threshold: float | None,
    model: Any,
    *,
    method: str = "agglomerative",
    min_cluster_size: int = 3,
    link_scale: float = 1.0,
) -> Discovery:
    """``Gallery.discover_embeddings`` (see there), from what it needs of the gallery.

    Args:
        embeddings: ``(Q, D)`` the queries.
        identify: the gallery's top-1 answer for each query (``identify_embeddings(e, k=1)``).
        threshold: the gallery's "unknown" threshold, or None when it has none that was set or
            calibrated.
        model: the gallery's model, whose distance the clusters are measured by.
    """
    check_settings(method, min_cluster_size, link_scale)
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) == 0:
        raise DataError("discover: no queries; pass at least one item to look for new classes in")
    t = threshold
    if t is None:
        raise ConfigError(
            "discover: the gallery has no calibrated 'unknown' threshold, so no query can be "
            "told unknown; enroll with --far (Gallery.calibrate) or set --threshold"
        )
    answers = identify(emb)
    unknown = [i for i, a in enumerate(answers) if not a.known]
    settings: dict[str, Any] = {
        "threshold": float(t),
        "min_cluster_size": int(min_cluster_size),
        "distance": "pair_head" if model.head is not None else model.distance_name,
    }
    if method == "agglomerative":
        settings.update(link_scale=float(link_scale), link_distance=float(link_scale * t))
    if len(unknown) > MAX_UNKNOWN:
        raise DataError(
            f"discover: {len(unknown)} queries are unknown; at most {MAX_UNKNOWN} are clustered "
            "at once (an n x n distance matrix); pass fewer queries"
        )
    u_emb = emb[unknown]
    if not unknown:
        return Discovery(
            len(emb), len(emb), [], [], [], method, settings,
            f"all {len(emb)} queries are of known classes (within the threshold {t:.4g}): "
            "nothing to discover",
            u_emb,
        )  # fmt: skip
    dist = pairwise_distances(model, u_emb)
    labels = cluster_distances(
        dist,
        method=method,
        min_cluster_size=min_cluster_size,
        link_distance=settings.get("link_distance"),
    )
    clusters = []
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        pos = np.flatnonzero(labels == c)
        sub = dist[np.ix_(pos, pos)]
        centre = pos[int(np.argmin(sub.sum(axis=1)))]
        nearest = answers[unknown[centre]].matches[0]
        clusters.append(
            Cluster(
                cluster=c,
                size=len(pos),
                medoid=unknown[centre],
                members=[unknown[i] for i in pos],
                nearest_class=nearest.label,
                distance=float(nearest.distance),
                spread=float(dist[centre, pos].mean()),
            )
        )
    noise = [unknown[i] for i in np.flatnonzero(labels < 0)]
    message = (
        f"{len(unknown)} of {len(emb)} queries are unknown: {len(clusters)} cluster(s) of at "
        f"least {min_cluster_size}, {len(noise)} in none"
    )
    return Discovery(
        len(emb), len(emb) - len(unknown), unknown, clusters, noise, method, settings, message,
        u_emb,
    )  # fmt: skip


def check_names(enrolled: Sequence[str], found: Discovery, names: Mapping[int, str]) -> None:
    """Raises DataError for a cluster id not found, an empty, reserved, repeated or enrolled name."""
    if not names:
        raise DataError("enroll clusters: expected at least one CLUSTER=NAME")
    seen: set[str] = set()
    for c, name in names.items():
        if not 0 <= int(c) < len(found.clusters):
            have = f"0 to {len(found.clusters) - 1}" if found.clusters else "none were found"
            raise DataError(f"enroll cluster {c}: no such cluster (clusters: {have})")
        if not str(name).strip():
            raise DataError(f"enroll cluster {c}: expected a non-empty class name")
        if str(name).strip().lower() == UNKNOWN:
            raise DataError(
                f"enroll cluster {c}: {name!r} is reserved (the answer beyond the threshold); "
                "choose another name"
            )
        if name in enrolled:
            raise DataError(
                f"enroll cluster {c}: class {name!r} is already enrolled; choose a new name (to "
                "add examples to it, use `siamese enroll` or POST /enroll)"
            )
        if name in seen:
            raise DataError(f"enroll clusters: the name {name!r} is given to two clusters")
        seen.add(name)
