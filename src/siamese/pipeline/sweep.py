"""Sweeps: train one run per point of a parameter grid (one shared seed), tabulate, summarise.

Each run goes to ``<out_dir>/<sweep name>/<run name>/`` with its own report; the sweep folder
gets ``sweep.csv``, ``sweep.json`` and ``report.html`` (metric-versus-parameter plots and a table
linking every run's report).
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siamese._io import atomic_write_json, atomic_write_text
from siamese.errors import ConfigError

METRICS = (
    "accuracy",
    "accuracy_ci95",
    "auc",
    "eer",
    "verification_accuracy",
    "cohens_d",
)  # from evaluation.json


@dataclass
class SweepResult:
    """What a sweep wrote: its folder, one row per run, the table files and the summary page."""

    sweep_dir: Path
    keys: list[str]
    rows: list[dict[str, Any]]
    csv_path: Path
    json_path: Path
    report_path: Path


def _split_values(raw: str) -> list[str]:
    """Split ``v1,v2,[a,b]`` on the commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in raw:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def _value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare word is a string, as with --set


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["training.learning_rate=1e-3,1e-4", ...]`` -> ``{key: [values]}`` (TOML values).

    Raises:
        ConfigError: an item without ``=``, an empty value, or a key given twice.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(
                f"--grid {item!r}: expected key=v1,v2,..., e.g. training.learning_rate=1e-3,1e-4"
            )
        key, raw = (s.strip() for s in item.split("=", 1))
        values = _split_values(raw)
        if not key or any(v == "" for v in values):
            raise ConfigError(
                f"--grid {item!r}: a key and non-empty comma-separated values are needed"
            )
        if key in grid:
            raise ConfigError(f"--grid {key!r} given twice; list all its values in one --grid")
        grid[key] = [_value(v) for v in values]
    if not grid:
        raise ConfigError("sweep: no --grid given; pass at least one --grid key=v1,v2")
    return grid


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--grid {key!r}: {part!r} is not a table")
    node[parts[-1]] = value


def run_name(index: int, point: dict[str, Any]) -> str:
    """A folder-safe run name such as ``01_learning_rate=0.001_batch_size=16``."""
    parts = [f"{k.split('.')[-1]}={v}" for k, v in point.items()]
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", f"{index:02d}_" + "_".join(parts))[:120]


def run_sweep(
    base: dict[str, Any],
    grid: dict[str, list[Any]],
    *,
    name: str | None = None,
    overwrite: bool = False,
    console: Any = None,
    progress: bool | None = None,
) -> SweepResult:
    """Train every point of ``grid`` over the ``base`` config and summarise the runs.

    Every run keeps the base config's seed, so runs differ only in the swept keys. All points
    are checked before the first run starts.

    Args:
        base: the run config as plain data (a config file's table, overrides applied).
        grid: ``{dotted key: [values]}``.
        name: the sweep's name (default: the base config's ``name``).
        overwrite: replace run folders left by an earlier sweep of the same name.
        console, progress: passed to ``train_from_config``.

    Returns:
        A ``SweepResult``.

    Raises:
        ConfigError: a swept key or value the config does not accept (before anything runs).
    """
    from siamese.pipeline.run import train_from_config
    from siamese.reporting.sweep_report import write_sweep_report
    from siamese.training.config import from_dict

    sweep_name = name or base.get("name") or "sweep"
    sweep_dir = Path(base.get("out_dir", "runs")) / sweep_name
    keys = list(grid)
    plan = []
    for i, values in enumerate(itertools.product(*grid.values()), start=1):
        point = dict(zip(keys, values, strict=True))
        data = copy.deepcopy(base)
        for k, v in point.items():
            _set(data, k, v)
        data["name"], data["out_dir"] = run_name(i, point), str(sweep_dir)
        try:
            plan.append((point, from_dict(data)))
        except ConfigError as exc:
            raise ConfigError(f"sweep point {point}: {exc}") from None
    rows = []
    for point, cfg in plan:
        result = train_from_config(
            cfg, overwrite=overwrite, console=console, progress_override=progress
        )
        rows.append(
            _row(cfg.name, point, result.history, result.evaluation, result.run_dir, sweep_dir)
        )
    csv_path, json_path = sweep_dir / "sweep.csv", sweep_dir / "sweep.json"
    atomic_write_text(csv_path, _csv(rows))
    atomic_write_json(
        json_path, {"name": sweep_name, "grid": grid, "seed": plan[0][1].seed, "runs": rows}
    )
    report = write_sweep_report(sweep_dir, sweep_name, keys, rows)
    return SweepResult(sweep_dir, keys, rows, csv_path, json_path, report)


def _row(
    name: str,
    point: dict[str, Any],
    history: list[dict[str, Any]],
    evaluation: dict[str, Any],
    run_dir: Path,
    sweep_dir: Path,
) -> dict[str, Any]:
    trained = [m for m in history if m["epoch"] > 0]
    val_acc = [m["val_accuracy"] for m in trained if m.get("val_accuracy") is not None]
    val_loss = [m["val_loss"] for m in trained if m.get("val_loss") is not None]
    t = evaluation.get("training", {})
    evaluated = evaluated_record(history, t, run_dir)
    report = run_dir / "report.html"
    return {
        "run": name,
        **point,
        **{m: evaluation.get(m) for m in METRICS},
        "val_accuracy": evaluated.get("val_accuracy"),
        "val_loss": evaluated.get("val_loss"),
        "evaluated_epoch": evaluated.get("epoch"),
        "best_val_accuracy": max(val_acc) if val_acc else None,
        "best_val_loss": min(val_loss) if val_loss else None,
        "epochs_run": t.get("epochs_run"),
        "best_epoch": t.get("best_epoch"),
        "train_seconds": t.get("seconds"),
        "report": str(report.relative_to(sweep_dir)) if report.is_file() else None,
    }


def evaluated_record(
    history: list[dict[str, Any]], training: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    """The metrics record of the epoch whose weights were evaluated (see RunFolder)."""
    from siamese.reporting.run_folder import RunFolder

    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    folder = RunFolder(run_dir, config, history, {}, evaluation={"training": training})
    epoch = folder.evaluated_epoch
    return next((m for m in history if m["epoch"] == epoch), {"epoch": epoch})


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (str(v) if isinstance(v, (list, dict)) else v) for k, v in r.items()})
    return buf.getvalue()
