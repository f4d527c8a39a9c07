"""The gallery's crowding correction: per enrolled example, ``beta`` x its neighbourhood radius.

An enrolled example in a crowded region of the model's training data (a class the model was
trained on) attracts queries of never-seen classes. With a background set (typically the training
items' embeddings), each enrolled example's radius -- its mean distance to its ``k`` nearest
background embeddings -- is kept beside it, and candidate distances are reduced by
``beta * radius`` before ranking (``siamese.evaluation.crowding``). Corrected distances are what
``identify`` reports and what ``calibrate`` sets the "unknown" threshold on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from siamese.errors import ConfigError
from siamese.evaluation.crowding import check_settings, neighbourhood_radius


@dataclass
class Crowding:
    """Background embeddings ``(M, D)``, ``beta`` and ``k``, and the radius of each enrolled example."""

    background: np.ndarray
    distance: str
    beta: float = 0.5
    k: int = 10
    radius: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def __post_init__(self) -> None:
        self.background = np.ascontiguousarray(self.background, dtype=np.float32)
        if self.background.ndim != 2 or not len(self.background):
            raise ConfigError(
                f"crowding background: expected (M, D) embeddings with M >= 1, got shape "
                f"{self.background.shape}"
            )
        check_settings(self.beta, self.k, len(self.background))

    def radii(self, embeddings: np.ndarray) -> np.ndarray:
        """Neighbourhood radius ``(N,)`` of embeddings ``(N, D)`` in the background."""
        if not len(embeddings):
            return np.zeros(0, dtype=np.float32)
        return neighbourhood_radius(embeddings, self.background, self.distance, k=self.k)

    def extend(self, embeddings: np.ndarray) -> None:
        """Append the radii of newly enrolled examples."""
        self.radius = np.concatenate([self.radius, self.radii(embeddings)]).astype(np.float32)

    def adjust(self, dists: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Corrected candidate distances, re-sorted: ``(Q, W)`` distances and example ids."""
        valid = ids >= 0
        out = dists - self.beta * np.where(valid, self.radius[np.maximum(ids, 0)], 0.0)
        out = np.where(valid, out, np.inf)
        order = np.argsort(out, axis=1, kind="stable")
        return np.take_along_axis(out, order, 1), np.take_along_axis(ids, order, 1)
