"""Helpers the command files share: the console and the one-line error exit."""

from __future__ import annotations

import errno
import json
import socket
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2, hint: str | None = None) -> NoReturn:
    """Print ``error: message`` (and a ``hint`` line) on stderr and exit with ``code``.

    A message of several lines (every error of a config at once) prints each line as its own
    ``error:`` line. Code 2 means the user's input was wrong.
    """
    for line in message.splitlines() or [""]:
        err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if hint:
        err_console.print(escape(hint), highlight=False, soft_wrap=True)
    sys.exit(code)


def print_json(obj: Any) -> None:
    """Print an object as JSON on stdout (for ``--json``)."""
    from siamese._io import _jsonable

    sys.stdout.write(json.dumps(obj, indent=2, default=_jsonable) + "\n")


# ---- option checks: a number out of range is a usage error (one line, exit 2) --------------
# Used as ``typer.Option(..., callback=in_range("--n-way", 2))``: the check runs while the
# options are parsed, before the command does anything. The ConfigError reaches main(), which
# prints it as one line with exit code 2.


def in_range(
    option: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Callable[[Any], Any]:
    """A typer callback that lets ``None`` (not given) and numbers in the range through.

    Raises (when the option is parsed):
        ConfigError: NaN, infinity or a number outside the range; the message names the
            option, the value and the valid range.
    """
    from siamese._range import Range

    rule = Range(lo, hi, lo_open, hi_open)

    def check(value: Any) -> Any:
        if value is not None and not rule.contains(value):
            from siamese.errors import ConfigError

            raise ConfigError(
                f"{option} {value!r}: expected {rule.describe(isinstance(value, int))}"
            )
        return value

    return check


def free_port(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (for uvicorn), or a one-line error.

    Raises:
        ConfigError: the port is in use, or the host cannot be listened on.
    """
    from siamese.errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(
            f"--host {host!r}: not an address to listen on ({exc.strerror})"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"--port {port}: {host}:{port} is already in use; pick another port with --port "
                "or stop the process that holds it"
            ) from None
        raise ConfigError(
            f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); pick another "
            "--port or --host"
        ) from None
    sock.set_inheritable(True)
    return sock
