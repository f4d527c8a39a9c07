"""`siamese demo`: one-shot identification of traffic faults never seen in training."""

from __future__ import annotations

import typer
from rich.table import Table

from siamese.cli._common import console, print_json


def demo(
    out_dir: str = typer.Option("runs", "--out-dir", help="Folder for the run folder `demo`."),
    seed: int = typer.Option(0, "--seed", help="One seed for data, model and training."),
    quick: bool = typer.Option(
        False, "--quick", help="A much shorter run (seconds), for smoke tests."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Train on 5 traffic patterns, enroll ONE example of each of 8, identify fresh samples."""
    from siamese.pipeline.demo import SEEN, UNSEEN, run_demo

    if not json_out:
        console.print(
            f"Training an LSTM Siamese network (triplet loss) on {len(SEEN)} simulated traffic "
            f"patterns: {', '.join(SEEN)}.\nNever shown in training: {', '.join(UNSEEN)}."
        )
    r = run_demo(
        out_dir=out_dir,
        seed=seed,
        quick=quick,
        progress=not json_out,
        console=None if json_out else console,
    )
    if json_out:
        print_json(r.__dict__)
        return
    table = Table(title="One-shot identification: ONE enrolled example per pattern, 8 patterns")
    table.add_column("patterns")
    table.add_column("queries", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("plain nearest", justify="right")
    table.add_row(
        "seen in training (5)",
        str(r.seen_queries),
        f"{r.seen_accuracy:.3f}",
        f"{r.seen_accuracy_plain:.3f}",
    )
    table.add_row(
        "never seen (3)",
        str(r.unseen_queries),
        f"[bold]{r.unseen_accuracy:.3f}[/]",
        f"{r.unseen_accuracy_plain:.3f}",
    )
    for p in (*SEEN, *UNSEEN):
        table.add_row(f"  {p}", "", f"{r.per_pattern[p]:.3f}", f"{r.per_pattern_plain[p]:.3f}")
    console.print(table)
    console.print(
        f"Accuracy is the mean over {r.enrollments} independent one-shot enrollments, each "
        "identifying every query against one example of each pattern, with distances corrected "
        f"for crowding (beta {r.crowding['beta']:g}, k {r.crowding['k']:g} nearest of "
        f"{r.crowding['background']:g} training windows); 'plain nearest' has no correction. "
        "The embedding is the LSTM's learned one with fixed input statistics appended "
        "(lstm fixed_features).\n"
        f"run folder: [bold]{r.run_dir}[/]   total time: {r.seconds:.0f} s"
    )
