"""`siamese export`: write a model's embedding (and pair head) as ONNX or TorchScript, checked
against the library on the run's own items."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, print_json


def export(
    run_dir: Path = typer.Argument(..., help="Run folder (or model folder) holding model.json."),
    format: str = typer.Option("onnx", "--format", "-f", help="onnx | torchscript."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Output file (default: <model>/model.onnx|.pt)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Export normaliser + encoder + test-time views (dynamic batch axis; a lengths input for
    variable-length encoders) and the pair head, each checked against the library (1e-4)."""
    from siamese.export import export_model

    report = export_model(run_dir, format, out)
    if json_out:
        print_json(report)
        return
    table = Table(title="Export")
    table.add_column("field")
    table.add_column("value")
    for key, value in report.items():
        table.add_row(key, f"{value:.3g}" if isinstance(value, float) else str(value))
    console.print(table)
