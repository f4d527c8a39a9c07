"""`siamese encoders`: list the registered encoders and their arguments."""

from __future__ import annotations

import inspect

import typer
from rich.table import Table

from siamese.cli._common import console, print_json


def encoders(
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the encoders a run config can name (model.encoder), with their arguments."""
    from siamese.encoders import encoder_doc, encoder_options, list_encoders

    rows = []
    for name in list_encoders():
        opts = {
            k: (None if v is inspect.Parameter.empty else v)
            for k, v in encoder_options(name).items()
            if k != "input_shape"
        }
        rows.append({"name": name, "description": encoder_doc(name), "arguments": opts})
    if json_out:
        print_json(rows)
        return
    table = Table(title="Encoders")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("arguments (defaults)")
    for r in rows:
        args = ", ".join(f"{k}={v}" for k, v in r["arguments"].items())
        table.add_row(r["name"], r["description"], args)
    console.print(table)
