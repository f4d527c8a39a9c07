"""The sweep's summary page: metric-versus-parameter plots and a table linking each run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from siamese._io import atomic_write_text
from siamese.reporting import html as h
from siamese.reporting._plot import figure, to_data_uri

PLOTTED = (
    ("accuracy", "test one-shot accuracy (fraction)"),
    ("auc", "test ROC AUC"),
    ("best_val_accuracy", "best validation accuracy (fraction)"),
    ("train_seconds", "training time (s)"),
)


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def parameter_figure(
    key: str, keys: list[str], rows: list[dict[str, Any]], metric: str, label: str
) -> str | None:
    """One metric against one swept key; one line per combination of the other swept keys."""
    if all(r.get(metric) is None for r in rows):
        return None
    values = list(dict.fromkeys(r[key] for r in rows))
    numeric = _numeric(values)
    log = numeric and min(values) > 0 and max(values) / min(values) >= 10
    pos = {v: (v if numeric else i) for i, v in enumerate(values)}
    others = [k for k in keys if k != key]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in others), []).append(r)
    fig, ax = figure(4.6, 3.2)
    for combo, members in groups.items():
        members = sorted(members, key=lambda r: pos[r[key]])
        pts = [(pos[r[key]], r[metric]) for r in members if r.get(metric) is not None]
        if not pts:
            continue
        lab = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(others, combo, strict=True))
        ax.plot(*zip(*pts, strict=True), marker="o", label=lab or None)
    if log:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(values)), [str(v) for v in values])
    elif len(values) <= 8:
        ax.set_xticks(values, [str(v) for v in values])
        ax.minorticks_off()
    ax.set_xlabel(key)
    ax.set_ylabel(label)
    ax.set_title(f"{label.split(' (')[0]} vs {key.split('.')[-1]}")
    if others:
        ax.legend(loc="best", fontsize=7)
    return to_data_uri(fig)


def write_sweep_report(
    sweep_dir: Path, name: str, keys: list[str], rows: list[dict[str, Any]]
) -> Path:
    """Write ``<sweep_dir>/report.html`` and return its path."""
    figs = [parameter_figure(k, keys, rows, m, label) for k in keys for m, label in PLOTTED]
    grid = "".join(f"<div>{h.image(f, 'metric versus parameter')}</div>" for f in figs if f)
    best = max(
        (r for r in rows if r.get("accuracy") is not None),
        key=lambda r: r["accuracy"],
        default=None,
    )
    table_rows = []
    for r in rows:
        link = (
            f'<a href="{h.esc(r["report"])}">{h.esc(r["run"])}</a>'
            if r.get("report")
            else h.esc(r["run"])
        )
        cells = (
            [link]
            + [_cell(r.get(k)) for k in keys]
            + [
                _cell(r.get(m))
                for m in (
                    "accuracy",
                    "auc",
                    "eer",
                    "best_val_accuracy",
                    "epochs_run",
                    "best_epoch",
                    "train_seconds",
                )
            ]
        )
        table_rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = [
        "run (report)",
        *keys,
        "test accuracy",
        "test AUC",
        "test EER",
        "best val acc.",
        "epochs",
        "best epoch",
        "train s",
    ]
    table = (
        "<table><tr>"
        + "".join(f"<th>{h.esc(c)}</th>" for c in head)
        + "</tr>"
        + "".join(table_rows)
        + "</table>"
    )
    summary = (
        f"<p>{len(rows)} runs over {', '.join(keys)}, one shared seed. Table files: "
        '<a href="sweep.csv">sweep.csv</a>, <a href="sweep.json">sweep.json</a>.</p>'
    )
    if best is not None:
        summary += (
            f"<p>Best test accuracy: <b>{h.fmt(best['accuracy'])}</b> ({h.esc(best['run'])}).</p>"
        )
    sections = [
        ("runs", "Runs", summary + table),
        (
            "plots",
            "Metrics versus parameters",
            f'<div class="grid">{grid}</div>' if grid else h.note("No metric to plot."),
        ),
    ]
    page = h.page(
        f"Sweep report: {name}",
        f"sweep folder {sweep_dir} · built {time.strftime('%Y-%m-%d %H:%M')}",
        sections,
    )
    path = sweep_dir / "report.html"
    atomic_write_text(path, page)
    return path


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f'<span style="float:right">{float(v):.4f}</span>'
    return h.esc(h.fmt(v))
