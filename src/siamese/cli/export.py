"""`siamese export`: write a model's embedding (and pair head) as ONNX or TorchScript, checked
against the library on the run's own items; ONNX also in fp16 or int8."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from siamese.cli._common import console, print_json

LIBRARY_VS_EXPORT = ("accuracy", "auc", "verification_accuracy")


def export(
    run_dir: Path = typer.Argument(..., help="Run folder (or model folder) holding model.json."),
    format: str = typer.Option("onnx", "--format", "-f", help="onnx | torchscript."),
    precision: str = typer.Option(
        "float32",
        "--precision",
        "-p",
        help="float32 | fp16 | int8 (fp16 and int8: ONNX only, converted by ONNX Runtime).",
    ),
    int8_mode: str = typer.Option(
        "auto",
        "--int8-mode",
        help="int8: static (calibrated on the run's training items) | dynamic | auto (the "
        "encoder family's: static for convolutions, dynamic for mlp / lstm).",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Output file (default: <model>/model.onnx|.pt, model.fp16.onnx, model.int8.onnx).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Export normaliser + encoder + test-time views (dynamic batch axis; a lengths input for
    variable-length encoders) and the pair head, each checked against the library (float32:
    1e-4); fp16 / int8 exports are compared with the library on the run's test items (embedding
    cosine similarity, one-shot accuracy, verification AUC), written to <file>.json beside them."""
    from siamese.export import export_model

    report = export_model(run_dir, format, out, precision=precision, int8_mode=int8_mode)
    if json_out:
        print_json(report)
        return
    comparison = report.pop("comparison", None)
    table = Table(title="Export")
    table.add_column("field")
    table.add_column("value")
    for key, value in report.items():
        table.add_row(key, f"{value:.3g}" if isinstance(value, float) else str(value))
    console.print(table)
    if comparison:
        cmp = Table(
            title=f"{precision} export vs the float32 library model on "
            f"{comparison['items']} {comparison['split']} items "
            f"(embedding cosine mean {comparison['cosine_mean']:.5f}, "
            f"min {comparison['cosine_min']:.5f})"
        )
        for col in ("measure", "library", "export"):
            cmp.add_column(col)
        for key in LIBRARY_VS_EXPORT:
            lib, exp = comparison["library"].get(key), comparison["export"].get(key)
            if lib is not None and exp is not None:
                cmp.add_row(key, f"{lib:.4f}", f"{exp:.4f}")
        console.print(cmp)
