"""Discovery: cluster the queries a gallery answers "unknown" into candidate new classes.

Which queries are clustered (``unknown``):

* ``"threshold"`` (the default): those ``identify`` answers "unknown": farther from every enrolled
  class than the gallery's threshold (set by ``Gallery.calibrate`` for a false-accept rate, or
  given).
* ``"novelty"``: those farther from their nearest class than all but ``novelty_rate`` of that
  class's enrolled examples are from their nearest classmate (leave one out, ``_spread.py``).
  Discovery's own choice: it needs no calibration, and it adapts to each class's width. A
  threshold calibrated for a low false-accept rate is set by the distances *between* classes and
  can let a new class close to a known one through as known; this one is set by the distances
  *within* classes.

They are clustered in the embedding, by the gallery's own distance (``1 - p(same)`` for a
pair-head model), with scikit-learn, never with a fixed number of clusters:

* ``"agglomerative"`` (the default): average linkage cut at ``link_scale`` times ``link``'s
  distance: ``"threshold"``, the gallery's threshold, or ``"spread"``, the median over classes of
  the mean distance between two enrolled examples of a class (a new class as wide as the known
  ones stays one cluster; it needs no calibration).
* ``"hdbscan"``: density-based; ``min_cluster_size`` and ``min_samples`` are its settings.

Both report groups of fewer than ``min_cluster_size`` queries as noise. What
``benchmarks/open_world.py`` chose on held-out *training* classes (scored by ARI; see
docs/benchmarks/open_world.md): ``unknown="novelty"`` at rate 0.01 with agglomerative 1.5 x
``link="spread"`` on both the traffic simulator (then 3 of 3 never-seen patterns a pure cluster;
the threshold rule let most of them through as known) and NSL-KDD. The defaults stay the first
version's (the threshold and its cut) so that existing galleries answer as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from siamese.errors import ConfigError, DataError
from siamese.gallery._results import UNKNOWN, Identification
from siamese.gallery._spread import class_spread, distances

METHODS = ("agglomerative", "hdbscan")
UNKNOWN_RULES = ("threshold", "novelty")  # which queries are clustered
LINKS = ("threshold", "spread")  # what the agglomerative cut is a multiple of
MAX_UNKNOWN = 10_000  # unknown queries clustered at once: an (n, n) distance matrix


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


def check_settings(
    method: str,
    min_cluster_size: int,
    link_scale: float,
    *,
    unknown: str = "threshold",
    novelty_rate: float = 0.01,
    link: str = "threshold",
    min_samples: int | None = None,
) -> None:
    """Raises ConfigError for a setting out of range: an unknown ``method``, ``unknown`` or
    ``link``, ``min_cluster_size < 2``, ``link_scale <= 0``, ``novelty_rate`` outside (0, 1) or
    ``min_samples < 1``."""
    for key, value, valid in (
        ("discover method", method, METHODS),
        ("unknown", unknown, UNKNOWN_RULES),
        ("link", link, LINKS),
    ):
        if value not in valid:
            raise ConfigError(f"{key}: unknown {value!r}; valid: {', '.join(valid)}")
    if int(min_cluster_size) < 2:
        raise ConfigError(
            f"min_cluster_size: expected at least 2 queries per cluster, got {min_cluster_size}"
        )
    if not link_scale > 0:
        raise ConfigError(f"link_scale: expected a positive factor, got {link_scale}")
    if not 0 < novelty_rate < 1:
        raise ConfigError(
            f"novelty_rate: expected a share of enrolled examples in (0, 1), got {novelty_rate} "
            "(e.g. 0.01)"
        )
    if min_samples is not None and int(min_samples) < 1:
        raise ConfigError(f"min_samples: expected at least 1 (or none), got {min_samples}")


def cluster_distances(
    dist: np.ndarray,
    *,
    method: str = "agglomerative",
    min_cluster_size: int = 3,
    link_distance: float | None = None,
    min_samples: int | None = None,
) -> np.ndarray:
    """Cluster labels ``(n,)`` of items with pairwise distances ``dist`` ``(n, n)``; -1 = noise.

    Args:
        dist: symmetric distances with a zero diagonal.
        method: ``"agglomerative"`` (average linkage cut at ``link_distance``) or ``"hdbscan"``.
        min_cluster_size: groups smaller than this are noise.
        link_distance: the agglomerative cut (required for it).
        min_samples: HDBSCAN's neighbourhood for a core point (None: ``min_cluster_size``).

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
            min_cluster_size=int(min_cluster_size),
            min_samples=None if min_samples is None else min(int(min_samples), n),
            metric="precomputed",
            copy=True,
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
    out = distances(model, emb, emb)
    np.fill_diagonal(out, 0.0)
    return (out + out.T) / 2  # symmetric (float rounding)


def discover(
    embeddings: np.ndarray,
    identify: Callable[[np.ndarray], list[Identification]],
    threshold: float | None,
    model: Any,
    *,
    method: str = "agglomerative",
    min_cluster_size: int = 3,
    link_scale: float = 1.0,
    unknown: str = "threshold",
    novelty_rate: float = 0.01,
    link: str = "threshold",
    min_samples: int | None = None,
    enrolled: tuple[Any, np.ndarray, Sequence[str]] | None = None,
) -> Discovery:
    """``Gallery.discover_embeddings`` (see there), from what it needs of the gallery.

    Args:
        embeddings: ``(Q, D)`` the queries.
        identify: the gallery's top-1 answer for each query (``identify_embeddings(e, k=1)``).
        threshold: the gallery's "unknown" threshold, or None when it has none that was set or
            calibrated.
        model: the gallery's model, whose distance the clusters are measured by.
        enrolled: the gallery's ``(embeddings_, labels_, class_names_)``, needed by
            ``unknown="novelty"`` and ``link="spread"``.
    """
    check_settings(method, min_cluster_size, link_scale, unknown=unknown,
                   novelty_rate=novelty_rate, link=link, min_samples=min_samples)  # fmt: skip
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) == 0:
        raise DataError("discover: no queries; pass at least one item to look for new classes in")
    by_link = method == "agglomerative"  # HDBSCAN has no cut
    needs_threshold = [k for k, v, on in (("unknown", unknown, True), ("link", link, by_link))
                       if on and v == "threshold"]  # fmt: skip
    if threshold is None and needs_threshold:
        raise ConfigError(
            f"discover: the gallery has no calibrated 'unknown' threshold, which {' and '.join(needs_threshold)}"
            "='threshold' use; enroll with --far (Gallery.calibrate), set --threshold, or use "
            "unknown='novelty' and link='spread' (from the enrolled classes' own spread)"
        )
    settings: dict[str, Any] = {
        "unknown": unknown,
        "threshold": None if threshold is None else float(threshold),
        "min_cluster_size": int(min_cluster_size),
        "distance": "pair_head" if model.head is not None else model.distance_name,
    }
    answers = identify(emb)
    spread = None
    if unknown == "novelty" or (by_link and link == "spread"):
        if enrolled is None:
            raise ConfigError(
                "discover: unknown='novelty' and link='spread' need the enrolled classes"
            )
        spread = class_spread(model, enrolled[0], enrolled[1], len(enrolled[2]))
    if unknown == "novelty":
        limits = spread.novelty_thresholds(novelty_rate)
        if not np.isfinite(limits).all():
            raise ConfigError(
                "discover: unknown='novelty' needs a class with at least 2 enrolled examples "
                "(its examples' distances to each other); enroll more, or use unknown='threshold'"
            )
        unknown_ids = beyond_own_class(answers, limits, enrolled[2])
        settings.update(
            novelty_rate=float(novelty_rate),
            novelty_thresholds=[float(limits.min()), float(np.median(limits)), float(limits.max())],
        )
        rule = f"the novelty threshold of their nearest class (rate {novelty_rate:g})"
    else:
        unknown_ids = [i for i, a in enumerate(answers) if not a.known]
        rule = f"the threshold {threshold:.4g}"
    if by_link:
        base = float(threshold) if link == "threshold" else spread.width()
        if not np.isfinite(base):
            raise ConfigError(
                "discover: link='spread' needs a class with at least 2 enrolled examples (their "
                "mean distance); enroll more, or use link='threshold'"
            )
        settings.update(
            link=link, link_scale=float(link_scale), link_distance=float(link_scale * base)
        )
    else:
        settings.update(min_samples=None if min_samples is None else int(min_samples))
    if len(unknown_ids) > MAX_UNKNOWN:
        raise DataError(
            f"discover: {len(unknown_ids)} queries are unknown; at most {MAX_UNKNOWN} are clustered "
            "at once (an n x n distance matrix); pass fewer queries"
        )
    u_emb = emb[unknown_ids]
    if not unknown_ids:
        return Discovery(
            len(emb), len(emb), [], [], [], method, settings,
            f"all {len(emb)} queries are of known classes (within {rule}): nothing to discover",
            u_emb,
        )  # fmt: skip
    dist = pairwise_distances(model, u_emb)
    labels = cluster_distances(
        dist,
        method=method,
        min_cluster_size=min_cluster_size,
        link_distance=settings.get("link_distance"),
        min_samples=min_samples,
    )
    clusters = []
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        pos = np.flatnonzero(labels == c)
        sub = dist[np.ix_(pos, pos)]
        centre = pos[int(np.argmin(sub.sum(axis=1)))]
        nearest = answers[unknown_ids[centre]].matches[0]
        clusters.append(
            Cluster(
                cluster=c,
                size=len(pos),
                medoid=unknown_ids[centre],
                members=[unknown_ids[i] for i in pos],
                nearest_class=nearest.label,
                distance=float(nearest.distance),
                spread=float(dist[centre, pos].mean()),
            )
        )
    noise = [unknown_ids[i] for i in np.flatnonzero(labels < 0)]
    message = (
        f"{len(unknown_ids)} of {len(emb)} queries are unknown (beyond {rule}): {len(clusters)} "
        f"cluster(s) of at least {min_cluster_size}, {len(noise)} in none"
    )
    return Discovery(
        len(emb), len(emb) - len(unknown_ids), unknown_ids, clusters, noise, method, settings,
        message, u_emb,
    )  # fmt: skip


def beyond_own_class(
    answers: list[Identification], limits: np.ndarray, class_names: Sequence[str]
) -> list[int]:
    """The queries farther from their nearest class than that class's ``limits[class id]``."""
    of = {name: i for i, name in enumerate(class_names)}
    return [
        i for i, a in enumerate(answers) if a.matches[0].distance > limits[of[a.matches[0].label]]
    ]


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
