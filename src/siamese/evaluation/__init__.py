"""One-shot evaluation: N-way K-shot, verification, separation."""

from siamese.evaluation.model_evaluation import evaluate_model, pair_scores
from siamese.evaluation.one_shot import (
    OneShotResult,
    classify_by_nearest,
    n_way_k_shot_accuracy,
    sample_episodes,
)
from siamese.evaluation.separation import cohens_d
from siamese.evaluation.verification import VerificationEvaluator, equal_error_rate, roc_auc

__all__ = [
    "OneShotResult",
    "VerificationEvaluator",
    "classify_by_nearest",
    "cohens_d",
    "equal_error_rate",
    "evaluate_model",
    "n_way_k_shot_accuracy",
    "pair_scores",
    "roc_auc",
    "sample_episodes",
]
