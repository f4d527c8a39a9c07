"""`siamese evaluate`: evaluate a finished run's model on its held-out test classes."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, in_range, print_json


def evaluate(
    run_dir: Path = typer.Argument(..., help="A run folder written by `siamese train`."),
    n_way: int = typer.Option(
        None,
        "--n-way",
        help="Classes per episode, >= 2 (default: the run's config).",
        callback=in_range("--n-way", 2),
    ),
    k_shot: int = typer.Option(
        None,
        "--k-shot",
        help="Examples per class in the support set, >= 1.",
        callback=in_range("--k-shot", 1),
    ),
    episodes: int = typer.Option(
        None, "--episodes", help="Number of episodes, >= 1.", callback=in_range("--episodes", 1)
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """N-way K-shot accuracy, verification accuracy, ROC AUC, EER, TAR@FAR and Cohen's d on the test classes."""
    from siamese.pipeline.evaluate_run import evaluate_run

    result = evaluate_run(run_dir, n_way=n_way, k_shot=k_shot, episodes=episodes)
    if json_out:
        print_json(result)
        return
    table = Table(title=f"Evaluation of {run_dir}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, v in result.items():
        if isinstance(v, (int, float)):
            table.add_row(key, f"{v:.4f}" if isinstance(v, float) else str(v))
    ver = result.get("verification", {})
    for far, tar in ver.get("tar_at_far", {}).items():
        shown = (
            f"{tar:.4f}" if tar is not None else f"- (under {1 / float(far):.0f} impostor pairs)"
        )
        table.add_row(f"TAR @ FAR {far}", shown)
    console.print(table)
    if "gallery_1nn_accuracy" in result:  # the data's own protocol: test classes occur in train
        console.print(
            f"1-NN accuracy of TEST against the TRAIN gallery ({result['gallery_items']} items): "
            f"[bold]{result['gallery_1nn_accuracy']:.4f}[/]"
        )
