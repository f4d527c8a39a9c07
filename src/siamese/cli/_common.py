"""Helpers the command files share: the console and the one-line error exit."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2, hint: str | None = None) -> NoReturn:
    """Print ``error: message`` (and a ``hint`` line) on stderr and exit with ``code``.

    Code 2 means the user's input was wrong.
    """
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(escape(hint), highlight=False, soft_wrap=True)
    sys.exit(code)


def print_json(obj: Any) -> None:
    """Print an object as JSON on stdout (for ``--json``)."""
    from siamese._io import _jsonable

    sys.stdout.write(json.dumps(obj, indent=2, default=_jsonable) + "\n")
