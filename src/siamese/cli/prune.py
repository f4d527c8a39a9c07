"""`siamese prune`: remove a fraction of every layer's channels, rebuild the layers smaller, and
write a new run folder (optionally fine-tuned) with its own evaluation and report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, in_range, print_json

SHOWN = ("accuracy", "auc", "verification_accuracy", "gallery_1nn_accuracy")


def prune(
    run_dir: Path = typer.Argument(..., help="A run folder written by `siamese train`."),
    amount: float = typer.Option(
        ...,
        "--amount",
        "-a",
        help="Fraction of each layer's channels / units removed, 0 < amount < 1.",
        callback=in_range("--amount", 0, 1, lo_open=True, hi_open=True),
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The new run folder (must not exist)."),
    fine_tune_steps: int = typer.Option(
        0,
        "--fine-tune-steps",
        help="Training steps after pruning with the run's own objective and sampling, >= 0.",
        callback=in_range("--fine-tune-steps", 0),
    ),
    fine_tune_lr: float = typer.Option(
        None,
        "--fine-tune-lr",
        help="Learning rate of the fine-tuning, > 0 (default: a tenth of the run's).",
        callback=in_range("--fine-tune-lr", 0, lo_open=True),
    ),
    keep_embedding: bool = typer.Option(
        False, "--keep-embedding", help="Keep every embedding dimension (prune the layers before)."
    ),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Structured pruning by norm: whole conv channels, linear units and LSTM hidden units go,
    the layers are rebuilt smaller (model.json records the new channels / widths), so the model
    file, its exports and its compute shrink."""
    from siamese.pipeline.prune_run import prune_run

    result = prune_run(
        run_dir,
        out,
        amount,
        fine_tune_steps=fine_tune_steps,
        fine_tune_lr=fine_tune_lr,
        keep_embedding=keep_embedding,
        report=report,
        console=None if json_out else console,
    )
    result.pop("cuts", None)
    if json_out:
        print_json(result)
        return
    table = Table(title=f"Pruned {run_dir} -> {out}")
    for col in ("", "before", "after"):
        table.add_column(col)
    for key in result["args_after"]:
        table.add_row(key, str(result["args_before"][key]), str(result["args_after"][key]))
    table.add_row(
        "parameters", f"{result['parameters_before']:,}", f"{result['parameters_after']:,}"
    )
    table.add_row(
        "model.safetensors bytes", f"{result['bytes_before']:,}", f"{result['bytes_after']:,}"
    )
    before, after = result["evaluation_before"] or {}, result["evaluation_after"] or {}
    for key in SHOWN:
        if key in after:
            b = before.get(key)
            table.add_row(key, "-" if b is None else f"{b:.4f}", f"{after[key]:.4f}")
    console.print(table)
    if "fine_tune" in result:
        ft = result["fine_tune"]
        console.print(
            f"fine-tuned {ft['steps']} steps at learning rate {ft['learning_rate']:.3g} "
            f"(mean loss {ft['train_loss']}) in {ft['seconds']} s"
        )
