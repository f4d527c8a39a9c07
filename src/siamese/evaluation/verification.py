"""Verification: same/different decisions at a threshold chosen on validation data; ROC AUC, EER."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from siamese.errors import DataError


def _check(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    same = np.asarray(same).astype(bool).ravel()
    if scores.shape != same.shape:
        raise DataError(f"verification: {len(scores)} scores but {len(same)} labels")
    if same.all() or (~same).all():
        raise DataError("verification: needs both same-class and different-class pairs")
    return scores, same


def roc_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve; scores are similarities (higher = more alike)."""
    scores, same = _check(scores, same)
    return float(roc_auc_score(same, scores))


def equal_error_rate(scores: np.ndarray, same: np.ndarray) -> float:
    """The rate where false accepts equal false rejects (interpolated on the ROC curve)."""
    scores, same = _check(scores, same)
    fpr, tpr, _ = roc_curve(same, scores)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    if i > 0 and (fnr[i] - fpr[i]) * (fnr[i - 1] - fpr[i - 1]) < 0:
        # Linear interpolation between the two ROC points around the crossing.
        a = (fpr[i - 1] - fnr[i - 1]) / ((fnr[i] - fnr[i - 1]) - (fpr[i] - fpr[i - 1]))
        return float(fpr[i - 1] + a * (fpr[i] - fpr[i - 1]))
    return float((fpr[i] + fnr[i]) / 2)


class VerificationEvaluator:
    """Accuracy at a threshold fitted on validation pairs (scikit-learn style).

    ``fit(scores, same)`` chooses the threshold that maximises accuracy on those pairs and sets
    ``threshold_``; ``predict`` says same (score >= threshold); ``score`` is accuracy.
    """

    def fit(self, scores: np.ndarray, same: np.ndarray) -> VerificationEvaluator:
        scores, same = _check(scores, same)
        order = np.sort(np.unique(scores))
        # Candidate thresholds halfway between consecutive distinct scores, plus both ends.
        cands = np.concatenate(
            [[order[0] - 1e-9], (order[1:] + order[:-1]) / 2, [order[-1] + 1e-9]]
        )
        if len(cands) > 4096:
            cands = np.quantile(scores, np.linspace(0, 1, 4096))
        acc = ((scores[None, :] >= cands[:, None]) == same[None, :]).mean(axis=1)
        self.threshold_ = float(cands[int(np.argmax(acc))])
        self.train_accuracy_ = float(acc.max())
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) >= self.threshold_

    def score(self, scores: np.ndarray, same: np.ndarray) -> float:
        scores, same = _check(scores, same)
        return float((self.predict(scores) == same).mean())
