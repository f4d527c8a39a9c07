"""Verification: same/different decisions at a threshold chosen on validation data; ROC AUC, EER,
TAR at fixed FARs."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from siamese.errors import ConfigError, DataError


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


FARS = (0.1, 0.01, 0.001)  # the false-accept rates TAR@FAR is reported at


def tar_at_far(
    scores: np.ndarray, same: np.ndarray, fars: tuple[float, ...] = FARS
) -> dict[str, float | None]:
    """True-accept rate (1 - FNMR) at each false-accept rate (FMR), keyed ``"0.1"``, ``"0.01"``...

    For each ``far`` the threshold accepts at most ``floor(far * n)`` of the ``n`` different-class
    (impostor) pairs: a pair is accepted when its score is strictly above the
    ``floor(far * n) + 1``-th highest impostor score, so tied impostors are never let in above
    the rate. The TAR is the share of same-class pairs accepted there.

    Args:
        scores: ``(P,)`` similarities (higher = more alike). same: ``(P,)`` bool.
        fars: the false-accept rates, each in (0, 1).

    Returns:
        ``{f"{far:g}": tar}``; ``None`` where there are fewer than ``1 / far`` impostor pairs
        (too few to measure that rate).

    Raises:
        DataError: mismatched lengths, or only one kind of pair.
        ConfigError: a rate outside (0, 1).
    """
    scores, same = _check(scores, same)
    impostor = np.sort(scores[~same])[::-1]  # highest first
    genuine = scores[same]
    out: dict[str, float | None] = {}
    for far in fars:
        if not 0.0 < far < 1.0:
            raise ConfigError(f"tar_at_far: expected false-accept rates in (0, 1), got {far}")
        n = len(impostor)
        if n < round(1.0 / far):
            out[f"{far:g}"] = None
            continue
        m = math.floor(far * n + 1e-9)  # impostors that may be accepted
        out[f"{far:g}"] = float(np.mean(genuine > impostor[m]))
    return out


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
