"""`siamese train`: run a training job from a TOML/YAML config."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, err_console, print_json

USAGE = (
    "usage: siamese train --config FILE [--set key=value ...] | --source NAME -o key=value ...\n"
    "e.g. siamese train --source ucr -o path=DIR (the shipped recipe); see siamese train --help"
)


def train(
    config: Path = typer.Option(
        None,
        "--config",
        "-c",
        help="TOML or YAML run config (without one: --source's recipe, or built-in defaults).",
    ),
    source: str = typer.Option(
        None,
        "--source",
        help="Data source (see `siamese data sources`); without --config, trains the shipped "
        "recipe for its kind of items (sequences, images, vectors).",
    ),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="Reader option key=value for --source (repeatable)."
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
    from siamese.cli.data import parse_options
    from siamese.pipeline import train_from_config
    from siamese.training import load_config

    if config is None and source is None and not overrides:
        err_console.print(USAGE, highlight=False, markup=False, soft_wrap=True)
        raise SystemExit(2)  # never a silent run into runs/run
    if config is None and source is not None:
        from siamese.recipes import recipe_config

        cfg, recipe = recipe_config(source, parse_options(option), overrides)
        console.print(
            f"recipe: [bold]{recipe}[/] (siamese/recipes/{recipe}.toml, the shipped recipe for "
            f"{recipe}; split {cfg.data.split!r}); pass --config FILE for your own"
        )
    else:
        if source is not None or option:
            overrides = (
                [f'data.source="{source}"'] * (source is not None)
                + [f"data.{o}" for o in option]
                + list(overrides)
            )
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
