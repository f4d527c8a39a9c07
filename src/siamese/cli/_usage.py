"""Command-line usage errors (unknown option or command, missing argument, bad value) in two lines.

The error (with the closest valid option or command for a typo) and where the help is.
typer raises the exceptions of whichever click it runs on: the ``click`` package (older typer) or
its own vendored copy, ``typer._click`` (typer 0.29). ``typer.BadParameter`` is that click's
class, so its module is where every other usage exception lives; catching the classes found there
holds for either.
"""

from __future__ import annotations

import difflib
import re
import sys
from types import ModuleType
from typing import Any

import typer

_NO_SUCH_COMMAND = re.compile(r"No such command '(?P<name>[^']*)'")


def click_exception_modules() -> list[ModuleType]:
    """The ``exceptions`` modules of the click typer raises from (and plain click, if loaded)."""
    mods = [sys.modules[typer.BadParameter.__module__]]
    plain = sys.modules.get("click.exceptions")  # a library in this process may raise these
    if plain is not None and plain is not mods[0]:
        mods.append(plain)
    return mods


def usage_exception_types(name: str) -> tuple[type[BaseException], ...]:
    """``name`` (e.g. ``"ClickException"``, ``"Abort"``) from every click module in use."""
    return tuple(getattr(m, name) for m in click_exception_modules() if hasattr(m, name))


def _closest(word: str, choices: list[str]) -> str | None:
    """The closest of ``choices`` to a mistyped ``word`` (difflib ratio >= 0.6), or ``None``."""
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def _options(ctx: Any) -> tuple[list[str], list[str]]:
    """The visible options of the command being parsed: (every name, one name per option)."""
    names: list[str] = []
    shown: list[str] = []
    for param in ctx.command.get_params(ctx):
        if getattr(param, "param_type_name", "") != "option" or getattr(param, "hidden", False):
            continue
        opts = [*param.opts, *param.secondary_opts]
        names += opts
        if "--help" not in opts:
            shown.append(max(opts, key=len))  # the long name
    return names, shown


def _commands(ctx: Any) -> list[str]:
    """The visible subcommands of the group being parsed."""
    cmd = ctx.command
    if not hasattr(cmd, "list_commands"):
        return []
    return [
        name
        for name in cmd.list_commands(ctx)
        if not getattr(cmd.get_command(ctx, name), "hidden", False)
    ]


def _path_from_argv(root: Any, argv: list[str], prog: str) -> str:
    """``prog`` and the (sub)command names that lead ``argv`` (for errors raised without a context)."""
    words, cmd = [prog], root
    for token in argv:
        sub = getattr(cmd, "commands", {}).get(token)
        if sub is None:
            break
        words.append(token)
        cmd = sub
    return " ".join(words)


def usage_message(
    exc: Any, argv: list[str], root: Any = None, prog: str = "siamese"
) -> tuple[str, str]:
    """The error line and the hint line for a click usage exception.

    Args:
        exc: the click exception (``UsageError`` and its kinds, or any ``ClickException``).
        argv: the command line's arguments (names the command when ``exc`` has no context).
        root: the click command of the whole program (walked with ``argv`` in that case).
        prog: the program's name.

    Returns:
        ``(message, hint)``: e.g. ``("siamese train: no such option --confg; did you mean
        --config?", "run 'siamese train --help' for usage")``.
    """
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.command_path:
        path = ctx.command_path
    else:
        path = _path_from_argv(root, argv, prog) if root is not None else prog
    hint = f"run '{path} --help' for usage"
    option = getattr(exc, "option_name", None)
    if option is not None and ctx is not None:  # NoSuchOption
        names, shown = _options(ctx)
        near = _closest(option, names)
        if near:
            return f"{path}: no such option {option}; did you mean {near}?", hint
        if ctx.parent is None:  # the root: its only options are --version / --help
            valid = f"; options go after a command (before one: {', '.join(shown) or '--help'})"
        else:
            valid = (
                f"; valid options: {', '.join(shown)}" if shown else "; options go after a command"
            )
        return f"{path}: no such option {option}{valid}", hint
    text = exc.format_message().strip()
    unknown = _NO_SUCH_COMMAND.match(text)
    if unknown is not None and ctx is not None:
        name, valid = unknown.group("name"), _commands(ctx)
        near = _closest(name, valid)
        if near:
            return f"{path}: no such command '{name}'; did you mean '{near}'?", hint
        return f"{path}: no such command '{name}'; valid commands: {', '.join(valid)}", hint
    return f"{path}: {text}", hint
