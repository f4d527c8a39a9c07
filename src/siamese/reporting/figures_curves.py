"""Training curves from ``metrics.jsonl``: loss, accuracy, hardness; collapse warnings marked."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
from matplotlib.transforms import offset_copy

from siamese.reporting._plot import SERIES, figure, integer_epochs, mark_epochs, to_data_uri

LABEL_WIDTH = 60  # characters of a legend label per line


def _series(metrics: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of the epochs that recorded ``key`` (non-null)."""
    pts = [(m["epoch"], m[key]) for m in metrics if m.get(key) is not None]
    if not pts:
        return np.array([]), np.array([])
    e, v = zip(*pts, strict=True)
    return np.asarray(e), np.asarray(v, dtype=float)


def collapse_epochs(metrics: list[dict[str, Any]]) -> list[int]:
    """Epochs whose record flagged an embedding collapse."""
    return [int(m["epoch"]) for m in metrics if m.get("collapse")]


def _plot_lines(
    metrics: list[dict[str, Any]],
    lines: list[tuple[str, str, str, str]],
    title: str,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
    log_if_wide: bool = False,
    legend_columns: int = 2,
) -> str | None:
    """One figure with a line per ``(key, label, colour, marker)``; None when no key has data."""
    drawn = [(k, *rest, *_series(metrics, k)) for k, *rest in lines]
    drawn = [d for d in drawn if len(d[4])]
    if not drawn:
        return None
    fig, ax = figure()
    for _key, label, colour, marker, e, v in drawn:
        ax.plot(e, v, marker=marker, ms=4, color=colour, label=textwrap.fill(label, LABEL_WIDTH))
    mark_epochs(ax, collapse_epochs(metrics))
    ax.set_xlabel("epoch (0 = before training)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    values = np.concatenate([d[5] for d in drawn])
    if log_if_wide:
        scale = wide_scale(values)
        if scale is not None:
            ax.set_yscale(scale[0], **scale[1])  # losses falling by orders of magnitude
            ax.set_ylabel(f"{ylabel}, {'log' if scale[0] == 'log' else 'symmetric log'} scale")
    integer_epochs(ax)
    # below the axes and the epoch label, so it never covers a curve; long labels one a row
    if any(len(d[1]) > LABEL_WIDTH for d in drawn):
        legend_columns = 1
    below = offset_copy(ax.transAxes, fig=fig, y=-34, units="points")  # under the epoch label
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=below,
        ncol=legend_columns,
        frameon=False,
    )
    return to_data_uri(fig, whole=True)  # the saved picture grows to hold the legend


def wide_scale(values: np.ndarray) -> tuple[str, dict[str, float]] | None:
    """A y scale for values spanning more than 50x: log when all are positive, symmetric log
    (linear near 0) when some are exactly 0 or negative; None when a linear scale reads well."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    if len(positive) == 0 or positive.max() / positive.min() <= 50:
        return None
    if values.min() > 0:
        return "log", {}
    return "symlog", {"linthresh": float(positive.min())}


def loss_figure(
    metrics: list[dict[str, Any]],
    objective: str,
    train_label: str = "training loss",
    val_label: str = "validation loss",
) -> str | None:
    """Training and validation loss per epoch (each label says which tuples it is over)."""
    return _plot_lines(
        metrics,
        [
            ("train_loss", train_label, SERIES["train"], "o"),
            ("val_loss", val_label, SERIES["val"], "s"),
        ],
        "Loss per epoch",
        f"{objective} loss (unitless)",
        log_if_wide=True,
    )


def accuracy_figure(metrics: list[dict[str, Any]], n_way: int | None) -> str | None:
    """Validation one-shot accuracy, validation ROC AUC and training tuple accuracy per epoch."""
    way = f"{n_way}-way " if n_way else ""
    return _plot_lines(
        metrics,
        [
            ("train_triplet_accuracy", "training triplet accuracy", SERIES["train"], "o"),
            ("train_pair_accuracy", "training pair accuracy", SERIES["train"], "o"),
            ("val_accuracy", f"validation {way}one-shot accuracy", SERIES["val"], "s"),
            ("val_auc", "validation ROC AUC", SERIES["auc"], "^"),
        ],
        "Accuracy per epoch",
        "accuracy / AUC (fraction, 0-1)",
        ylim=(-0.02, 1.02),
    )


def hardness_figure(metrics: list[dict[str, Any]]) -> str | None:
    """The hardness schedule (target) and the hardness of the triplets actually used."""
    return _plot_lines(
        metrics,
        [
            ("hardness_target", "scheduled (target) hardness", SERIES["target"], "o"),
            ("hardness_achieved", "achieved hardness", SERIES["achieved"], "s"),
        ],
        "Negative hardness per epoch (0 = farthest negative, 1 = nearest)",
        "hardness (0-1)",
        ylim=(-0.02, 1.02),
    )


def spread_figure(metrics: list[dict[str, Any]]) -> str | None:
    """Embedding spread and class separation: what the collapse detector watches.

    The training-batch figures (every run) are the medians of the detector's window of steps;
    the validation spread is drawn when the run has a validation split.
    """
    return _plot_lines(
        metrics,
        [
            ("batch_spread", "spread (training batches)", SERIES["target"], "o"),
            ("batch_d_pos", "same-class distance (training batches)", SERIES["same"], "v"),
            (
                "batch_d_neg",
                "different-class distance (training batches)",
                SERIES["different"],
                "^",
            ),
            ("spread", "spread (validation)", SERIES["val"], "s"),
        ],
        "Spread and class distances per epoch\n(all near 0, or same = different: collapse)",
        "embedding units",
        legend_columns=1,
    )
