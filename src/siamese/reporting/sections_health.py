"""The report's headline on training health: collapse, recoveries, the margin against distances.

It comes first in the report, so a dead model never sits under a healthy-looking page.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from siamese.reporting import html as h
from siamese.reporting._plot import SERIES, figure, to_data_uri
from siamese.reporting.run_folder import RunFolder

MARGIN_FILE = "margin.json"


def health_section(run: RunFolder) -> str:
    """The collapse verdict (with reasons, recoveries and what to try) and the margin figure."""
    collapse = run.training.get("collapse") or {}
    state = collapse.get("state")
    out = []
    if state is None:
        out.append(h.note("This run recorded no collapse summary (made by an older version)."))
    elif state == "healthy":
        out.append(
            h.note(
                "No collapse: the training batches kept their spread and separated the classes "
                "at every epoch (checked on every run, with or without a validation split)."
            )
        )
    else:
        reasons = collapse.get("reasons", {})
        text = {
            "collapsed": "THE EMBEDDING COLLAPSED: this model does not work. ",
            "recovered": "The embedding collapsed during training and the run recovered. ",
            "warned": "The embedding collapsed during training (on_collapse = warn). ",
        }[state]
        text += " | ".join(f"epoch {e}: {'; '.join(r)}" for e, r in reasons.items())
        out.append(h.note(text, warn=True))
        rows = [
            [
                r.get("epoch"),
                r.get("rolled_back_to_epoch"),
                r.get("lr"),
                r.get("hardness", "unchanged"),
            ]
            for r in collapse.get("recoveries", [])
        ]
        if rows:
            out.append("<h3>Recoveries</h3>")
            out.append(
                h.table(
                    ["collapse at epoch", "rolled back to epoch", "new learning rate", "hardness"],
                    rows,
                )
            )
    margin = _margin_record(run)
    if margin is not None:
        uri = margin_figure(margin)
        out.append(
            f"<p>Margin {h.fmt(margin.get('margin'))} ({h.esc(margin.get('set_by'))}) against the "
            f"{h.esc(margin.get('distance'))} distances of training pairs before and after training.</p>"
        )
        if uri:
            out.append(h.image(uri, "distance distributions against the margin"))
    return "".join(out)


def _margin_record(run: RunFolder) -> dict[str, Any] | None:
    path = run.path / MARGIN_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def margin_figure(record: dict[str, Any]) -> str | None:
    """Same- and different-class distance histograms, untrained and trained, with the margin."""
    parts = [(k, record.get(k) or {}) for k in ("untrained", "trained")]
    parts = [(k, p) for k, p in parts if p.get("edges")]
    if not parts:
        return None
    fig, axes = figure(4.2 * len(parts), 3.4, ncols=len(parts), squeeze=False)
    for ax, (name, hist) in zip(axes[0], parts, strict=True):
        edges = np.asarray(hist["edges"])
        width = np.diff(edges)
        for key, colour, label in (
            ("pos", SERIES["same"], "same class"),
            ("neg", SERIES["different"], "different classes"),
        ):
            counts = np.asarray(hist[key], dtype=float)
            total = counts.sum()
            if total > 0:
                ax.bar(
                    edges[:-1],
                    counts / total / width,
                    width=width,
                    align="edge",
                    alpha=0.55,
                    color=colour,
                    label=label,
                )
        if record.get("margin") is not None:
            ax.axvline(
                float(record["margin"]),
                color="black",
                ls="--",
                lw=1.2,
                label=f"margin {record['margin']:.3g}",
            )
        ax.set_title(f"{name} model")
        ax.set_xlabel(f"{record.get('distance')} distance")
        ax.set_ylabel("density")
        ax.legend(loc="best", fontsize=8)
    return to_data_uri(fig)
