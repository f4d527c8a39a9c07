"""How distance becomes loss."""

from typing import Any

from siamese.errors import ConfigError
from siamese.objectives._base import Objective
from siamese.objectives._tuples import all_pairs, all_triplets, triplets_to_pairs
from siamese.objectives.contrastive import ContrastiveLoss
from siamese.objectives.distances import (
    DISTANCES,
    L1,
    Cosine,
    Distance,
    Euclidean,
    SquaredEuclidean,
    get_distance,
)
from siamese.objectives.koch_bce import KochBCELoss
from siamese.objectives.lossless_triplet import LosslessTripletLoss
from siamese.objectives.multi_similarity import MultiSimilarityLoss
from siamese.objectives.pair_head import PairHead
from siamese.objectives.triplet import TripletLoss

OBJECTIVES = ("koch_bce", "contrastive", "triplet", "lossless_triplet", "multi_similarity")


def create_objective(
    name: str,
    *,
    embedding_dim: int,
    margin: float | None = None,
    distance: str | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    base: float | None = None,
) -> Objective:
    """Build an objective by name with the config's settings (None = the objective's default).

    Raises:
        ConfigError: an unknown name, or a setting the objective does not have.
    """
    ms = {k: v for k, v in (("alpha", alpha), ("beta", beta), ("base", base)) if v is not None}
    if name == "multi_similarity":
        if margin is not None:
            raise ConfigError(
                "objective.margin: multi_similarity has no margin; set objective.base (the "
                "cosine similarity between pulling and pushing) instead"
            )
        if distance not in (None, "cosine"):
            raise ConfigError(
                f"objective.distance: multi_similarity compares by cosine, got {distance!r}"
            )
        try:
            return MultiSimilarityLoss(**ms)
        except ValueError as exc:
            raise ConfigError(f"objective: {exc}") from None
    if ms:
        raise ConfigError(
            f"objective.{next(iter(ms))}: only multi_similarity has alpha, beta and base, not {name!r}"
        )
    kw: dict[str, Any] = {}
    if margin is not None:
        kw["margin"] = margin
    if distance is not None:
        kw["distance"] = distance
    if name == "koch_bce":
        return KochBCELoss()
    if name == "contrastive":
        return ContrastiveLoss(**kw)
    if name == "triplet":
        return TripletLoss(**kw)
    if name == "lossless_triplet":
        return LosslessTripletLoss(dim=embedding_dim)
    raise ConfigError(f"unknown objective {name!r}; valid objectives: {', '.join(OBJECTIVES)}")


__all__ = [
    "DISTANCES",
    "L1",
    "OBJECTIVES",
    "ContrastiveLoss",
    "Cosine",
    "Distance",
    "Euclidean",
    "KochBCELoss",
    "LosslessTripletLoss",
    "MultiSimilarityLoss",
    "Objective",
    "PairHead",
    "SquaredEuclidean",
    "TripletLoss",
    "all_pairs",
    "all_triplets",
    "create_objective",
    "get_distance",
    "triplets_to_pairs",
]
