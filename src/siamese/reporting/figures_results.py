"""Result figures: ROC curve with EER, same- vs different-class distances, items per class."""

from __future__ import annotations

import matplotlib.ticker
import numpy as np
from sklearn.metrics import roc_curve

from siamese.reporting._plot import SERIES, figure, to_data_uri


def roc_figure(scores: np.ndarray, same: np.ndarray, auc: float, eer: float) -> str:
    """ROC curve of test pairs with the equal-error-rate point marked.

    Args:
        scores: ``(P,)`` similarities (higher = more alike).
        same: ``(P,)`` whether each pair is of one class.
        auc, eer: the values to print in the legend (as evaluated for ``evaluation.json``).
    """
    fpr, tpr, _ = roc_curve(same, scores)
    fig, ax = figure(4.6, 4.2)
    ax.plot(fpr, tpr, color=SERIES["train"], lw=2, label=f"model (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="chance (AUC = 0.5)")
    ax.plot([eer], [1 - eer], "o", color=SERIES["collapse"], ms=7, label=f"EER = {eer:.4f}")
    ax.plot([0, 1], [1, 0], color=SERIES["collapse"], ls="--", lw=0.8, alpha=0.5)
    ax.set_xlabel("false accept rate (different-class pairs called same)")
    ax.set_ylabel("true accept rate (same-class pairs called same)")
    ax.set_title("ROC curve of evaluation pairs")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
    return to_data_uri(fig)


def distance_figure(distances: np.ndarray, same: np.ndarray, d: float, distance_name: str) -> str:
    """Overlaid histograms of same-class and different-class pair distances.

    Args:
        distances: ``(P,)`` distances of test pairs.
        same: ``(P,)`` whether each pair is of one class.
        d: Cohen's d of the two samples (shown in the title).
        distance_name: the distance's name (the x-axis unit).
    """
    fig, ax = figure(6.0, 3.8)
    bins = np.histogram_bin_edges(distances, bins=40)
    ax.hist(
        distances[same],
        bins=bins,
        alpha=0.6,
        color=SERIES["same"],
        density=True,
        label=f"same class ({int(same.sum())} pairs)",
    )
    ax.hist(
        distances[~same],
        bins=bins,
        alpha=0.6,
        color=SERIES["different"],
        density=True,
        label=f"different class ({int((~same).sum())} pairs)",
    )
    ax.set_xlabel(f"{distance_name.replace('_', ' ')} distance between embeddings")
    ax.set_ylabel("density (share of pairs per unit distance)")
    ax.set_title(f"Distances of test pairs — Cohen's d = {d:.3f}")
    ax.legend(loc="best")
    return to_data_uri(fig)


def class_size_figure(counts: np.ndarray) -> str:
    """Histogram of items per class (how balanced the classes are)."""
    counts = np.asarray(counts)
    fig, ax = figure(5.5, 3.2)
    lo, hi = int(counts.min()), int(counts.max())
    bins = np.arange(lo, hi + 2) - 0.5 if hi - lo < 40 else 40
    ax.hist(counts, bins=bins, color=SERIES["train"], edgecolor="white")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("items in the class")
    ax.set_ylabel("number of classes")
    ax.set_title(f"Items per class ({len(counts)} classes)")
    return to_data_uri(fig)


def retrieval_figure(top_k: dict[int, float]) -> str:
    """Top-K retrieval accuracy as bars."""
    ks = sorted(top_k)
    fig, ax = figure(4.2, 3.0)
    bars = ax.bar([str(k) for k in ks], [top_k[k] for k in ks], color=SERIES["auc"])
    ax.bar_label(bars, labels=[f"{top_k[k]:.3f}" for k in ks], padding=2)
    ax.set_xlabel("K (nearest neighbours looked at)")
    ax.set_ylabel("top-K accuracy (fraction)")
    ax.set_ylim(0, 1.12)
    ax.set_title("Retrieval on test items (leave one out)")
    return to_data_uri(fig)


SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c", "unused": "#c8c8c8"}


def class_bars_figure(names: list[str], per_split: dict[str, np.ndarray]) -> str:
    """A bar per class, stacked by split: how many of its items each split holds.

    Args:
        names: the class names (one bar each).
        per_split: ``{split: (len(names),) item counts}``; a class split by items (a protocol
            that holds items out of the training classes) shows one segment per split.
    """
    fig, ax = figure(max(4.0, 0.28 * len(names) + 1.5), 3.4)
    bottom = np.zeros(len(names))
    for split, n in per_split.items():
        n = np.asarray(n, dtype=float)
        if not n.any():
            continue
        ax.bar(
            range(len(names)),
            n,
            bottom=bottom,
            color=SPLIT_COLOURS.get(split, "#7f7f7f"),
            label=f"{split} split",
        )
        bottom += n
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_xlabel("class")
    ax.set_ylabel("items in the class")
    ax.set_title(f"Items per class ({len(names)} classes), by split")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return to_data_uri(fig)
