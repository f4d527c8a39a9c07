"""The sweep's summary page: metric-versus-parameter plots and a table linking each run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from siamese._io import atomic_write_text
from siamese.reporting import html as h
from siamese.reporting._plot import figure, integer_epochs, plt_close, to_data_uri

PLOTTED = (
    ("val_accuracy", "validation accuracy at the evaluated epoch (fraction)"),
    ("accuracy", "test one-shot accuracy ± 95% CI (fraction)"),
    ("auc", "test ROC AUC"),
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
        lab = ", ".join(
            f"{k.split('.')[-1]}={value_text(v)}" for k, v in zip(others, combo, strict=True)
        )
        x, y = zip(*pts, strict=True)
        ci = [r.get(f"{metric}_ci95") for r in members if r.get(metric) is not None]
        if all(c is not None for c in ci):  # the 95% interval of each run's test episodes
            ax.errorbar(x, y, yerr=ci, marker="o", capsize=3, label=lab or None)
        else:
            ax.plot(x, y, marker="o", label=lab or None)
    if log:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(values)), [value_text(v) for v in values])
    elif len(values) <= 8:
        ax.set_xticks(values, [value_text(v) for v in values])
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
    best, rule = choose_best(rows)
    table_rows = []
    for r in rows:
        link = (
            f'<a href="{h.esc(r["report"])}">{h.esc(r["run"])}</a>'
            if r.get("report")
            else h.esc(r["run"])
        )
        cells = (
            [link]
            + [h.esc(value_text(r.get(k))) for k in keys]
            + [_cell(r.get("val_accuracy")), _cell(r.get("val_loss")), _with_ci(r)]
            + [_cell(r.get(m)) for m in ("auc", "eer", "evaluated_epoch", "train_seconds")]
        )
        mark = ' class="best"' if r is best else ""
        table_rows.append(f"<tr{mark}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = [
        "run (report)",
        *keys,
        "val accuracy (chooses)",
        "val loss",
        "test accuracy ± 95% CI",
        "test AUC",
        "test EER",
        "evaluated epoch",
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
            f"<p>Best run, chosen by the {rule}: <b>{h.esc(best['run'])}</b> (validation "
            f"accuracy {h.fmt(best.get('val_accuracy'))}, validation loss "
            f"{h.fmt(best.get('val_loss'))}); its test accuracy, shown and never used to "
            f"choose: {_with_ci(best)}. Validation and test figures are of each run's "
            "evaluated epoch.</p>"
        )
    else:
        summary += f"<p>Best run: none: {rule}.</p>"
    curves = overlaid_curves(sweep_dir, rows)
    sections = [
        ("runs", "Runs", summary + table),
        (
            "plots",
            "Metrics versus parameters",
            f'<div class="grid">{grid}</div>' if grid else h.note("No metric to plot."),
        ),
        (
            "curves",
            "Curves of every run, overlaid",
            f'<div class="grid">{curves}</div>' if curves else h.note("No curves recorded."),
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
        return f'<span style="float:right">{h.fmt(float(v))}</span>'
    return h.esc(h.fmt(v))


def _with_ci(r: dict[str, Any]) -> str:
    if r.get("accuracy") is None:
        return "–"
    ci = r.get("accuracy_ci95")
    return h.fmt(r["accuracy"]) + ("" if ci is None else f" ± {h.fmt(ci)}")


CURVES = (
    ("train_loss", "training loss"),
    ("val_loss", "validation loss"),
    ("val_accuracy", "validation one-shot accuracy (fraction)"),
)


def overlaid_curves(sweep_dir: Path, rows: list[dict[str, Any]]) -> str:
    """One figure per metric with a line per run, read from each run's metrics.jsonl."""
    runs = {}
    for r in rows:
        path = sweep_dir / r["run"] / "metrics.jsonl"
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            runs[r["run"]] = [json.loads(line) for line in lines if line.strip()]
    out = []
    for key, label in CURVES:
        fig, ax = figure(5.2, 3.4)
        drawn = 0
        for name, metrics in runs.items():
            pts = [(m["epoch"], m[key]) for m in metrics if m.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=name)
                drawn += 1
        if not drawn:
            plt_close(fig)
            continue
        ax.set_xlabel("epoch (0 = before training)")
        ax.set_ylabel(label)
        ax.set_title(f"{label.split(' (')[0]} per epoch, every run")
        integer_epochs(ax)
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=7, frameon=False
        )
        out.append(f"<div>{h.image(to_data_uri(fig), label + ' per epoch, every run')}</div>")
    return "".join(out)


def choose_best(rows: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """The run with the best validation figure of its evaluated epoch; never test figures.

    Returns:
        ``(row, rule)``: highest validation one-shot accuracy (ties: lower validation loss), or
        the lowest validation loss when no run has a validation accuracy; ``(None, why)`` when
        no run has a validation split.
    """
    with_acc = [r for r in rows if r.get("val_accuracy") is not None]
    if with_acc:
        best = max(
            with_acc, key=lambda r: (r["val_accuracy"], -(r.get("val_loss") or float("inf")))
        )
        return best, "highest validation one-shot accuracy at the evaluated epoch"
    with_loss = [r for r in rows if r.get("val_loss") is not None]
    if with_loss:
        return min(with_loss, key=lambda r: r["val_loss"]), "lowest validation loss"
    return None, "no run has a validation split, so none is chosen (test figures never choose)"


def value_text(v: Any) -> str:
    """A swept value as the grid gave it: floats at full precision (1e-05, not 0.0000)."""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)
