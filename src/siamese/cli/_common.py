"""Helpers the command files share: the console and the one-line error exit."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: the user's input was wrong)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def print_json(obj: Any) -> None:
    """Print an object as JSON on stdout (for ``--json``)."""
    from siamese._io import _jsonable

    sys.stdout.write(json.dumps(obj, indent=2, default=_jsonable) + "\n")
