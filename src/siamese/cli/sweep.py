"""`siamese sweep`: train a grid of runs with one shared seed and summarise them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, print_json


def sweep(
    config: Path = typer.Argument(
        None, help="TOML or YAML run config (default: built-in defaults)."
    ),
    grid: list[str] = typer.Option(
        [],
        "--grid",
        "-g",
        help="A swept key and its values: --grid training.learning_rate=1e-3,1e-4 (repeatable).",
    ),
    overrides: list[str] = typer.Option(
        [], "--set", "-s", help="Override a key of every run: --set training.epochs=3."
    ),
    name: str = typer.Option(
        None, "--name", help="Sweep name: the folder <out_dir>/<name> (default: the config's name)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace run folders of an earlier sweep of this name."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """Run every combination of the --grid values; write sweep.csv, sweep.json and report.html."""
    from siamese.pipeline.sweep import parse_grid, run_sweep
    from siamese.reporting.sweep_report import value_text
    from siamese.training.config import apply_overrides, read_config_file
    from siamese.training.config_checks import raise_all, run_path_errors

    points = parse_grid(grid)
    base = apply_overrides(read_config_file(config) if config is not None else {}, list(overrides))
    sweep_name, out_dir = name or base.get("name") or "sweep", base.get("out_dir", "runs")
    if isinstance(sweep_name, str) and isinstance(out_dir, str):  # other types: from_dict says
        label = "--name" if name else "config key 'name'"
        raise_all(run_path_errors(sweep_name, out_dir, label))
    result = run_sweep(base, points, name=name, overwrite=overwrite, console=console)
    if json_out:
        print_json({"sweep_dir": str(result.sweep_dir), "runs": result.rows})
        return
    table = Table(title=f"Sweep {result.sweep_dir.name}")
    for col in ("run", *result.keys, "accuracy", "auc", "best_val_accuracy"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in result.rows:
        cells = [
            r["run"],
            *[value_text(r[k]) for k in result.keys],
            r["accuracy"],
            r["auc"],
            r["best_val_accuracy"],
        ]
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in cells])
    console.print(table)
    console.print(f"table: {result.csv_path}  summary: [bold]{result.report_path}[/]")
