"""`siamese import-weights`: convert another framework's pretrained weights into a model folder."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, in_range, print_json


def import_weights(
    format: str = typer.Argument(..., help="face-api: @vladmandic/face-api's face recogniser."),
    path: Path = typer.Argument(
        ..., help="face_recognition_model-weights_manifest.json, or the folder holding it."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The model folder to write."),
    crop: int = typer.Option(
        None,
        "--crop",
        help="Cut the central CROP x CROP pixels of every image file before resizing it to "
        "150x150 (default: the whole image).",
        callback=in_range("--crop", 1),
    ),
    align: bool = typer.Option(
        None,
        "--align/--no-align",
        help="Align faces with face-api's 68-point landmark model (default: when "
        "face_landmark_68_model-weights_manifest.json is beside the recogniser's).",
    ),
    points: str = typer.Option(
        "68", "--points", help="dlib's face chip variant: 68 (33 points) or 5 (eyes, nose)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out folder."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Write model.safetensors + model.json from pretrained weights (no pickle, no download):
    the folder works with enroll, identify, verify, export, serve and model.init_from."""
    from siamese.weights import import_weights as run

    summary = run(format, path, out, crop=crop, align=align, points=points, overwrite=overwrite)
    if json_out:
        print_json(summary)
        return
    if summary.get("aligned"):
        console.print(f"Imported the landmark model too: faces are aligned ({points}-point chip)")
    table = Table(title=f"Imported {format}")
    table.add_column("field")
    table.add_column("value")
    for key, value in summary.items():
        table.add_row(key, str(value))
    console.print(table)
