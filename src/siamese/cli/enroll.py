"""`siamese enroll`: build a gallery from a trained model and a dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from siamese.cli._common import console, in_range, print_json
from siamese.errors import ConfigError


def enroll(
    run_dir: Path = typer.Argument(..., help="Run folder (or model folder) holding model.json."),
    out: Path = typer.Option(..., "--out", "-o", help="Gallery folder to write."),
    source: str = typer.Option(None, "--source", help="Data source name (see `[data] source`)."),
    option: list[str] = typer.Option([], "--option", help="Source option key=value (repeatable)."),
    folder: Path = typer.Option(
        None, "--folder", help="Folder of class subfolders (images, .npy, .csv)."
    ),
    index: str = typer.Option("auto", "--index", help="auto | exact | hnsw | ivf | ivfpq."),
    shots: int = typer.Option(
        None,
        "--shots",
        help="Enroll the first N items per class, N >= 1 (default all).",
        callback=in_range("--shots", 1),
    ),
    holdout: int = typer.Option(
        0,
        "--holdout-classes",
        help="Classes kept out, used as impostors.",
        callback=in_range("--holdout-classes", 0),
    ),
    far: float = typer.Option(
        None,
        "--far",
        help="Calibrate 'unknown' for this false-accept rate, in [0, 1].",
        callback=in_range("--far", 0, 1),
    ),
    threshold: float = typer.Option(
        None,
        "--threshold",
        help="Set the distance threshold directly, >= 0.",
        callback=in_range("--threshold", 0),
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed choosing the held-out classes.", callback=in_range("--seed", 0)
    ),
    crowding: float = typer.Option(
        0.0,
        "--crowding",
        help="Correct distances for crowding with this beta >= 0 (0.5 = CSLS; 0: off) against "
        "the run's training data (needs a run folder).",
        callback=in_range("--crowding", 0),
    ),
    pgvector_table: str = typer.Option(
        None,
        "--pgvector-table",
        help="Keep the rows in PostgreSQL + pgvector under this table name (DSN from "
        "$SIAMESE_GALLERY_DSN) instead of the folder's gallery.db.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Enroll every class of a dataset into a gallery (optionally calibrating 'unknown')."""
    from siamese.gallery.build import build_gallery

    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"--out {out}: is a file; pass a folder for the gallery (created if missing)"
        )
    g = build_gallery(
        run_dir,
        source=source,
        options=_options(option),
        folder=folder,
        out=out,
        index=index,
        shots=shots,
        holdout_classes=holdout,
        far=far,
        threshold=threshold,
        seed=seed,
        crowding=crowding,
        pgvector_table=pgvector_table,
    )
    summary = {
        "gallery": str(out),
        "classes": g.num_classes,
        "examples": len(g),
        "index": None if g.index_ is None else g.index_.structure,
        "threshold": g.threshold_,
        "calibration": g.calibration_,
        "crowding": None if g.crowding_ is None else g.crowding_.beta,
    }
    if json_out:
        print_json(summary)
        return
    table = Table(title=f"Gallery {out}")
    table.add_column("field")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key != "calibration":
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    for key, value in (g.calibration_ or {}).items():
        if key != "holdout_classes":
            table.add_row(
                f"calibration {key}", f"{value:.4g}" if isinstance(value, float) else str(value)
            )
    console.print(table)


def _options(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` strings to a dict; values are parsed as JSON when they can be (1, true, [..])."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option: expected key=value, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
