"""The threshold arithmetic of ``Gallery.calibrate``: accept at most a chosen share of impostors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from siamese.errors import ConfigError, DataError


def threshold_for_far(impostor: np.ndarray, far: float) -> float:
    """The distance threshold that accepts at most ``far`` of the impostor distances.

    A query is accepted when ``distance <= threshold``. With ``n`` impostors at most
    ``m = floor(far * n)`` may be accepted; the threshold sits halfway between the ``m``-th and
    ``(m+1)``-th smallest impostor distance (just below the smallest when ``m == 0``).

    Args:
        impostor: ``(n,)`` distances of impostor queries to their nearest enrolled class.
        far: the target false-accept rate, in ``[0, 1)``.

    Raises:
        ConfigError: ``far`` outside ``[0, 1)``.
        DataError: no impostor distances.
    """
    if not 0.0 <= far < 1.0:
        raise ConfigError(f"far: expected a false-accept rate in [0, 1), got {far}")
    s = np.sort(np.asarray(impostor, dtype=np.float64))
    if len(s) == 0:
        raise DataError(
            "calibrate: no impostor queries; pass items of classes that are not enrolled"
        )
    m = math.floor(far * len(s) + 1e-9)
    if m == 0:
        return float(np.nextafter(s[0], -np.inf))
    if m >= len(s):
        return float(s[-1])
    if s[m - 1] < s[m]:
        return float((s[m - 1] + s[m]) / 2.0)
    return float(np.nextafter(s[m], -np.inf))


def rates(
    genuine: np.ndarray, genuine_correct: np.ndarray, impostor: np.ndarray, t: float
) -> dict[str, float]:
    """Measured rates at threshold ``t``.

    Returns:
        ``far``: impostors accepted; ``detection_rate``: genuine queries whose nearest class is
        their own and is accepted (the open-set "detection and identification rate").
    """
    far = float(np.mean(impostor <= t)) if len(impostor) else float("nan")
    dir_ = float(np.mean((genuine <= t) & genuine_correct)) if len(genuine) else float("nan")
    return {"far": far, "detection_rate": dir_}


def calibration(own: np.ndarray, top: np.ndarray, dist: np.ndarray, far: float) -> dict[str, Any]:
    """What ``Gallery.calibrate`` measures, from each query's nearest enrolled classes.

    Args:
        own: ``(Q,)`` each query's enrolled class id, or -1 for a class that is not enrolled.
        top, dist: ``(Q, <=2)`` the nearest class ids and their distances.
        far: the target false-accept rate.

    Returns:
        ``far_target``, ``threshold``, ``mode``, impostor and genuine counts, and the ``rates``.

    Raises:
        DataError: no impostor (no unenrolled query and fewer than 2 enrolled classes).
        ConfigError: ``far`` outside ``[0, 1)``.
    """
    enrolled = own >= 0
    impostor = dist[~enrolled, 0]
    genuine = dist[enrolled, 0]
    correct = top[enrolled, 0] == own[enrolled]
    mode = "unenrolled-classes"
    if not len(impostor):
        if top.shape[1] < 2:
            raise DataError(
                "calibrate: needs queries of non-enrolled classes or >= 2 enrolled classes"
            )
        mode = "leave-own-class-out"
        impostor = np.where(correct, dist[enrolled, 1], dist[enrolled, 0])
    t = threshold_for_far(impostor, far)
    return {
        "far_target": far,
        "threshold": t,
        "mode": mode,
        "impostors": int(len(impostor)),
        "genuine": int(len(genuine)),
        **rates(genuine, correct, impostor, t),
    }
