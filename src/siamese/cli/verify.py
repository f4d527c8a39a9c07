"""`siamese verify`: are two files of the same class?"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, in_range, print_json


def verify(
    model_dir: Path = typer.Argument(
        ..., help="Run, model or gallery folder (a gallery brings its threshold)."
    ),
    a: Path = typer.Argument(..., help="First file (image, .npy or .csv)."),
    b: Path = typer.Argument(..., help="Second file."),
    threshold: float = typer.Option(
        None,
        "--threshold",
        help="Distance threshold for 'same', >= 0.",
        callback=in_range("--threshold", 0),
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Compare two files with the model: the score, the distance and same/different."""
    from siamese.errors import ConfigError
    from siamese.gallery import Gallery, find_model_dir
    from siamese.gallery.inputs import load_file, stack
    from siamese.model import SiameseModel

    if (model_dir / "gallery.json").is_file():
        g = Gallery.load(model_dir)
        if threshold is not None:
            g.threshold_ = threshold
    else:
        g = Gallery(SiameseModel.load(find_model_dir(model_dir)), threshold=threshold)
    spec = g.item_spec()
    if spec is None:
        raise ConfigError(
            f"{model_dir}: the model records no info.item_shape; files cannot be read"
        )
    (xa, la), (xb, lb) = stack([load_file(a, spec)], spec), stack([load_file(b, spec)], spec)
    r = g.verify(xa, xb, la, lb)[0]
    if json_out:
        print_json({"a": str(a), "b": str(b), **r.to_dict()})
        return
    verdict = {True: "[green]same[/]", False: "[red]different[/]", None: "no threshold set"}[r.same]
    table = Table(title="Verification")
    for col in ("a", "b", "verdict", "score", "distance", "threshold"):
        table.add_column(col)
    t = "-" if r.threshold is None else f"{r.threshold:.4f}"
    table.add_row(str(a), str(b), verdict, f"{r.score:.4f}", f"{r.distance:.4f}", t)
    console.print(table)
