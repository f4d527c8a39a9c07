"""Convergence in numbers: when the run reached its best epoch, and the final loss and
accuracy, all read from ``metrics.jsonl`` and ``evaluation.json``."""

from __future__ import annotations

from typing import Any

from siamese.reporting import html as h
from siamese.reporting.run_folder import RunFolder


def seconds_until(metrics: list[dict[str, Any]], epoch: int) -> float:
    """Training seconds spent up to the end of ``epoch`` (validation included)."""
    return float(sum(m.get("seconds") or 0.0 for m in metrics if 0 < m["epoch"] <= epoch))


def _last(metrics: list[dict[str, Any]], key: str) -> tuple[int, Any] | None:
    rows = [m for m in metrics if m.get(key) is not None]
    return (rows[-1]["epoch"], rows[-1][key]) if rows else None


def convergence_html(run: RunFolder, val_n_way: int | None) -> str:
    """Tiles (convergence time, final losses and accuracies) and the sentence that explains them."""
    metrics, t, ev = run.metrics, run.training, run.evaluation
    total = seconds_until(metrics, metrics[-1]["epoch"])
    monitor = run.config.get("training", {}).get("monitor")
    best = t.get("best_epoch")
    if best is not None:
        at = seconds_until(metrics, best)
        sentence = (
            f"Convergence: the monitored {h.esc(monitor)} was best at epoch {best}, after "
            f"{at:.1f} s of the {total:.1f} s of training (per-epoch seconds in metrics.jsonl, "
            "validation included)."
        )
        tile = (f"best epoch ({monitor})", f"{best} after {at:.1f} s")
    else:
        losses = [m for m in metrics if m.get("train_loss") is not None]
        if not losses:
            return ""
        low = min(losses, key=lambda m: m["train_loss"])
        at = seconds_until(metrics, low["epoch"])
        sentence = (
            "Convergence: no validation split, so no best epoch; the training loss was lowest "
            f"at epoch {low['epoch']}, after {at:.1f} s of the {total:.1f} s of training."
        )
        tile = ("lowest training loss", f"epoch {low['epoch']} after {at:.1f} s")
    tiles = [tile]
    for key, name in (("train_loss", "final training loss"), ("val_loss", "final validation loss")):
        last = _last(metrics, key)
        if last is not None:
            tiles.append((f"{name} (epoch {last[0]})", last[1]))
    last = _last(metrics, "val_accuracy")
    if last is not None:
        tiles.append((f"final val {val_n_way or '?'}-way accuracy (epoch {last[0]})", last[1]))
    if ev.get("accuracy") is not None:
        tiles.append(
            (f"test {ev.get('n_way')}-way accuracy (epoch {run.evaluated_epoch})", ev["accuracy"])
        )
    return h.metric_tiles(tiles) + f"<p>{sentence}</p>"
