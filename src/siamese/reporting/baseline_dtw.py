"""1-NN DTW on the test episodes: the classic baseline for short series, beside the model.

The very episodes of ``evaluation.json`` (``replay_episodes``) are scored with dynamic time
warping distances between each query and its supports, computed by dtaidistance's C code (full
warping; multivariate series with dependent DTW, a squared euclidean cost over the channels)
on the series as the model's input normaliser leaves them, unpadded. dtaidistance is a soft
dependency: without it, or when the pairs would cost more than ``CELL_BUDGET`` DTW cells, the
report says so instead of scoring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from siamese.evaluation.one_shot import sample_episodes
from siamese.objectives.distances import Distance
from siamese.reporting.episodes import Episodes, replay_episodes

CELL_BUDGET = 100_000_000  # DTW cells (sum over pairs of T_query x T_support); ~1.5 s here


@dataclass
class DtwBaseline:
    """The outcome: ``episodes`` when scored, else ``None`` and ``why`` it was not."""

    episodes: Episodes | None
    cells: int
    why: str = ""


class PairTable(Distance):
    """Distances looked up in a table of item pairs; the "embeddings" are item positions."""

    name = "dtw"

    def __init__(self, table: dict[tuple[int, int], float]) -> None:
        self.table = table

    def matrix(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        rows = [int(v) for v in x[:, 0].tolist()]
        cols = [int(v) for v in y[:, 0].tolist()]
        return torch.tensor([[self.table[(r, c)] for c in cols] for r in rows], dtype=torch.float64)


def dtw_distance(a: np.ndarray, b: np.ndarray) -> float:
    """DTW between two series ``(T, F)`` (dtaidistance's C code, full warping)."""
    from dtaidistance import dtw, dtw_ndim

    if a.shape[1] == 1:
        return float(dtw.distance_fast(a[:, 0], b[:, 0]))
    return float(dtw_ndim.distance_fast(a, b))


def dtw_episodes(
    series: list[np.ndarray],
    labels: np.ndarray,
    *,
    n_way: int,
    k_shot: int,
    episodes: int,
    seed: int,
    budget: int = CELL_BUDGET,
) -> DtwBaseline:
    """Replay the evaluation's episodes with 1-NN DTW.

    Args:
        series: one ``(T_i, F)`` float array per item, unpadded.
        labels: ``(n,)`` their classes.
        n_way, k_shot, episodes, seed: as recorded in ``evaluation.json``.
        budget: the most DTW cells to compute.

    Returns:
        The replayed episodes, or why they were not scored (dtaidistance missing or its C code
        not built, or over the cell budget).
    """
    pairs = set()
    for s_idx, _, q_idx, _ in sample_episodes(
        labels, n_way=n_way, k_shot=k_shot, episodes=episodes, seed=seed
    ):
        pairs.update((int(q), int(s)) for q in q_idx for s in s_idx)
    cells = sum(len(series[q]) * len(series[s]) for q, s in pairs)
    if cells > budget:
        return DtwBaseline(
            None,
            cells,
            f"left out: {len(pairs):,} query-support pairs would cost {cells:,} DTW cells, "
            f"over the report's budget of {budget:,}",
        )
    try:
        import dtaidistance.dtw  # noqa: F401
    except ImportError:
        return DtwBaseline(
            None, cells, "left out: dtaidistance is not installed (pip install dtaidistance)"
        )
    prepared = [np.ascontiguousarray(x, dtype=np.float64) for x in series]
    try:
        table = {(q, s): dtw_distance(prepared[q], prepared[s]) for q, s in sorted(pairs)}
    except Exception as exc:  # dtaidistance raises a bare Exception when its C code is missing
        return DtwBaseline(None, cells, f"left out: dtaidistance could not run ({exc})")
    index = np.arange(len(series), dtype=np.float64)[:, None]  # (n, 1): item positions
    eps = replay_episodes(
        index, labels, PairTable(table), n_way=n_way, k_shot=k_shot, episodes=episodes, seed=seed
    )
    return DtwBaseline(eps, cells)


def unpadded_inputs(
    model: object, items: np.ndarray, lengths: np.ndarray | None
) -> list[np.ndarray]:
    """The series after the model's input normaliser, each cut to its true length."""
    x = torch.as_tensor(np.asarray(items, dtype=np.float32))
    x = x[..., None] if x.ndim == 2 else x  # (n, T, F)
    n, t = x.shape[:2]
    lens = np.full(n, t) if lengths is None else np.asarray(lengths)
    with torch.no_grad():
        x = model.normaliser(x, torch.as_tensor(lens)).numpy()
    return [x[i, : int(lens[i])] for i in range(n)]
