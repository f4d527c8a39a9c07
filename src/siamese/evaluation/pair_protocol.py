"""Verification on a fixed list of pairs (LFW): flip-averaged embeddings, pair scores, k-fold accuracy.

The LFW protocols score given pairs, not random ones: ``pair_list_scores`` scores them,
``k_fold_verification`` runs the View 2 protocol (for each fold, the threshold is chosen on the
other folds' pairs and the accuracy measured on the fold; the mean and standard deviation are
reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from siamese.errors import DataError
from siamese.evaluation.verification import VerificationEvaluator, roc_auc


@dataclass
class KFoldResult:
    """Accuracy per fold with the threshold chosen on the other folds."""

    mean: float
    std: float
    per_fold: list[float]
    thresholds: list[float]
    auc: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def embed_flip_averaged(
    model: Any, dataset: Any, *, flip: bool = True, batch_size: int = 256
) -> np.ndarray:
    """Embeddings ``(N, D)`` of a dataset's images, averaged with their left-right mirror images.

    Mirrored faces are the same person, so the mean of both embeddings is a less noisy estimate.
    The views are averaged by ``SiameseModel.embed`` (with the model's own test-time shifts);
    compared by angle, the mean is scaled back to unit length.

    Args:
        model: a ``SiameseModel`` over images ``(C, H, W)``.
        dataset: a ``LabeledDataset`` of images.
        flip: average with the mirrored image (``False``: plain ``embed_dataset``).
        batch_size: images per forward pass.
    """
    return model.embed_dataset(dataset, batch_size=batch_size, flip=flip)


def pair_list_scores(
    model: Any, embeddings: np.ndarray, i: np.ndarray, j: np.ndarray
) -> np.ndarray:
    """Similarity (higher = more alike) of each listed pair ``(embeddings[i[k]], embeddings[j[k]])``."""
    e1 = torch.as_tensor(embeddings[np.asarray(i)])  # (P, D)
    e2 = torch.as_tensor(embeddings[np.asarray(j)])  # (P, D)
    return model.similarity(e1, e2).numpy()


def k_fold_verification(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> KFoldResult:
    """The LFW View 2 protocol on scored pairs.

    Args:
        scores: ``(P,)`` similarities; same: ``(P,)`` bool; folds: ``(P,)`` fold of each pair.

    Returns:
        A ``KFoldResult``: per fold, accuracy at the threshold that maximises accuracy on the
        other folds' pairs; their mean and (population) standard deviation; overall ROC AUC.

    Raises:
        DataError: fewer than two folds, or mismatched lengths.
    """
    scores, same, folds = np.asarray(scores, float), np.asarray(same, bool), np.asarray(folds)
    if not len(scores) == len(same) == len(folds):
        raise DataError(
            f"k-fold verification: {len(scores)} scores, {len(same)} labels, {len(folds)} folds"
        )
    ids = np.unique(folds)
    if len(ids) < 2:
        raise DataError(f"k-fold verification: needs at least 2 folds, got {len(ids)}")
    per_fold, thresholds = [], []
    for k in ids:
        test = folds == k
        ver = VerificationEvaluator().fit(scores[~test], same[~test])
        per_fold.append(ver.score(scores[test], same[test]))
        thresholds.append(ver.threshold_)
    return KFoldResult(
        float(np.mean(per_fold)),
        float(np.std(per_fold)),
        per_fold,
        thresholds,
        roc_auc(scores, same),
    )
