"""How far apart same-class and different-class distances lie (Cohen's d)."""

from __future__ import annotations

import numpy as np


def cohens_d(same: np.ndarray, different: np.ndarray) -> float:
    """Cohen's d of two distance samples: (mean_diff - mean_same) / pooled std.

    Positive when different-class pairs lie farther apart than same-class pairs; above 2 the two
    distributions barely overlap.
    """
    same = np.asarray(same, dtype=np.float64)
    different = np.asarray(different, dtype=np.float64)
    n1, n2 = len(same), len(different)
    if n1 < 2 or n2 < 2:
        return float("nan")
    pooled = np.sqrt(
        ((n1 - 1) * same.var(ddof=1) + (n2 - 1) * different.var(ddof=1)) / (n1 + n2 - 2)
    )
    return float((different.mean() - same.mean()) / max(pooled, 1e-12))
