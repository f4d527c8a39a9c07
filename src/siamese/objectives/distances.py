"""The one place distances are defined.

Every objective, miner and evaluator takes a ``Distance``. All of them are dissimilarities:
smaller means closer (``smaller_is_closer`` is true), so thresholds and rankings never need to
know which distance is in use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from siamese.errors import ConfigError


class Distance:
    """Base class: subclasses fill in ``pairwise`` (row-wise) and ``matrix`` (all pairs)."""

    name = "distance"
    smaller_is_closer = True

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Distance between ``x[i]`` and ``y[i]``: ``(N, D), (N, D) -> (N,)``."""
        raise NotImplementedError

    def matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Distance between every ``x[i]`` and ``y[j]``: ``(N, D), (M, D) -> (N, M)``."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.pairwise(x, y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Euclidean(Distance):
    """``||x - y||_2`` (with a small epsilon inside the root so the gradient at 0 is finite)."""

    name = "euclidean"

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(((x - y) ** 2).sum(dim=-1) + 1e-12)  # (N,)

    def matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(SquaredEuclidean().matrix(x, y) + 1e-12)  # (N, M)


class SquaredEuclidean(Distance):
    """``||x - y||_2^2``."""

    name = "squared_euclidean"

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((x - y) ** 2).sum(dim=-1)  # (N,)

    def matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x2 = (x * x).sum(dim=1, keepdim=True)  # (N, 1)
        y2 = (y * y).sum(dim=1, keepdim=True).T  # (1, M)
        return torch.clamp(x2 + y2 - 2.0 * x @ y.T, min=0.0)  # (N, M)


class Cosine(Distance):
    """``1 - cos(x, y)``, in [0, 2]: a margin means the same whatever the embedding's scale."""

    name = "cosine"

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 1.0 - F.cosine_similarity(x, y, dim=-1, eps=1e-8)  # (N,)

    def matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 1.0 - F.normalize(x, dim=1, eps=1e-8) @ F.normalize(y, dim=1, eps=1e-8).T


class L1(Distance):
    """``sum |x - y|`` (the component distance Koch's pair head weighs)."""

    name = "l1"

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).abs().sum(dim=-1)

    def matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cdist(x, y, p=1)


DISTANCES: dict[str, type[Distance]] = {
    cls.name: cls for cls in (Euclidean, SquaredEuclidean, Cosine, L1)
}


def get_distance(name: str | Distance) -> Distance:
    """A distance by name (``euclidean``, ``squared_euclidean``, ``cosine``, ``l1``) or as given."""
    if isinstance(name, Distance):
        return name
    if name not in DISTANCES:
        raise ConfigError(f"unknown distance {name!r}; valid distances: {', '.join(DISTANCES)}")
    return DISTANCES[name]()
