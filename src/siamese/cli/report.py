"""`siamese report`: write a run's self-contained report.html."""

from __future__ import annotations

from pathlib import Path

import typer

from siamese.cli._common import console


def report(
    run_dir: Path = typer.Argument(..., help="A run folder written by `siamese train`."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Where to write the page (default: RUN_DIR/report.html)."
    ),
) -> None:
    """Write RUN_DIR/report.html: data, setup, curves, embedding over time, results, examples."""
    from siamese.errors import ConfigError
    from siamese.reporting import build_report

    if output is not None and output.is_dir():
        raise ConfigError(
            f"--output {output}: is a folder; pass a file path such as {output / 'report.html'}"
        )
    path = build_report(run_dir, output=output)
    size = path.stat().st_size / 1e6
    console.print(f"report: [bold]{path}[/] ({size:.1f} MB, opens offline in any browser)")
