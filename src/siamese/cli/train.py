"""`siamese train`: run a training job from a TOML/YAML config."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, print_json


def train(
    config: Path = typer.Option(
        None, "--config", "-c", help="TOML or YAML run config (default: built-in defaults)."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", "-s", help="Override a key: --set training.epochs=3 (repeatable)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run from its last checkpoint."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    json_out: bool = typer.Option(False, "--json", help="Print the final evaluation as JSON."),
) -> None:
    """Train a Siamese network; the run goes to <out_dir>/<name>/ (model, metrics, report)."""
    from siamese.training import load_config, train_from_config

    cfg = load_config(config, overrides)
    result = train_from_config(cfg, resume=resume, overwrite=overwrite, console=console)
    if not result.evaluation:  # a torchrun rank other than 0: rank 0 reports
        return
    if json_out:
        print_json({"run_dir": str(result.run_dir), **result.evaluation})
        return
    table = Table(title=f"Run {cfg.name}: test on held-out classes")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("n_way", "k_shot", "accuracy", "auc", "eer", "verification_accuracy", "cohens_d"):
        if key in result.evaluation:
            v = result.evaluation[key]
            table.add_row(key, f"{v:.4f}" if isinstance(v, float) else str(v))
    t = result.evaluation.get("training", {})
    table.add_row("epochs run", str(t.get("epochs_run")))
    table.add_row("stopped by", str(t.get("stopped_reason")))
    collapse = t.get("collapse") or {}
    if collapse.get("state", "healthy") != "healthy":
        epochs = ", ".join(map(str, collapse["epochs"]))
        table.add_row("collapse", f"{collapse['state']} (flagged at epochs {epochs})")
    table.add_row("training seconds", str(t.get("seconds")))
    console.print(table)
    console.print(f"run folder: [bold]{result.run_dir}[/]")
