"""What ``Gallery.identify`` and ``Gallery.verify`` return (plain dataclasses with ``to_dict``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Match:
    """One enrolled class and the distance from the query to its nearest example."""

    label: str
    distance: float


@dataclass(frozen=True)
class Identification:
    """The answer for one query.

    Attributes:
        label: the nearest class, or ``"unknown"`` when it is farther than the threshold.
        known: false when the answer is ``"unknown"``.
        distance: the distance to the nearest class (smaller = closer; ``1 - p`` for a pair head).
        matches: the top-k classes, nearest first (given even when the answer is unknown).
    """

    label: str
    known: bool
    distance: float
    matches: list[Match] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        # built field by field: ``asdict`` deep-copies, which was a sixth of a batched
        # service's busy time in a profile (the same dict; tests compare it with ``asdict``)
        return {
            "label": self.label,
            "known": self.known,
            "distance": self.distance,
            "matches": [{"label": m.label, "distance": m.distance} for m in self.matches],
        }


@dataclass(frozen=True)
class Verification:
    """Whether two items are of the same class.

    Attributes:
        same: ``distance <= threshold``; None when no threshold is set.
        score: ``model.similarity`` (the pair head's probability, else the negated distance).
        distance: the gallery's distance (smaller = closer).
        threshold: the distance threshold used, or None.
    """

    same: bool | None
    score: float
    distance: float
    threshold: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
