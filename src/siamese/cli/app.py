"""The `siamese` command line: one thin file per command, each calling one library function."""

from __future__ import annotations

import sys

import typer

from siamese.cli import encoders as _encoders
from siamese.cli._common import fail
from siamese.cli._usage import usage_exception_types, usage_message
from siamese.errors import SiameseError

app = typer.Typer(
    name="siamese",
    help="One-shot recognition with Siamese networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("encoders")(_encoders.encoders)


def _print_version(value: bool) -> None:
    if value:
        from siamese import __version__

        typer.echo(f"siamese {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """One-shot recognition with Siamese networks."""


def _register() -> None:
    """Commands whose modules import torch-heavy code are registered here, in one place."""
    from siamese.cli import demo as _demo
    from siamese.cli import evaluate as _evaluate
    from siamese.cli import train as _train
    from siamese.cli.data import data_app

    app.command("demo")(_demo.demo)
    app.command("train")(_train.train)
    app.command("evaluate")(_evaluate.evaluate)
    app.add_typer(data_app, name="data")
    from siamese.cli import discover as _discover
    from siamese.cli import enroll as _enroll
    from siamese.cli import export as _export
    from siamese.cli import identify as _identify
    from siamese.cli import serve as _serve
    from siamese.cli import verify as _verify

    app.command("enroll")(_enroll.enroll)
    app.command("identify")(_identify.identify)
    app.command("discover")(_discover.discover)
    app.command("verify")(_verify.verify)
    app.command("export")(_export.export)
    app.command("serve")(_serve.serve)
    from siamese.cli import report as _report
    from siamese.cli import sweep as _sweep

    app.command("report")(_report.report)
    app.command("sweep")(_sweep.sweep)
    from siamese.cli import mine as _mine

    app.command("mine")(_mine.mine)
    from siamese.cli import import_weights as _import_weights

    app.command("import-weights")(_import_weights.import_weights)
    from siamese.cli import prune as _prune

    app.command("prune")(_prune.prune)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: user errors become one line and exit code 2.

    Usage errors (unknown option or command, missing argument, a value of the wrong type) are
    caught whichever click typer raises them from (``siamese.cli._usage``).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args, prog_name="siamese", standalone_mode=False)
    except SiameseError as exc:
        fail(str(exc), code=getattr(exc, "exit_code", 2))
    except usage_exception_types("NoArgsIsHelpError") as exc:
        message = exc.format_message()  # the help (rich help is printed while it is built)
        if message.strip():
            sys.stderr.write(message.rstrip() + "\n")
        sys.exit(exc.exit_code)
    except usage_exception_types("ClickException") as exc:
        message, hint = usage_message(exc, args, root=typer.main.get_command(app))
        fail(message, hint=hint)
    except (typer.Abort, *usage_exception_types("Abort")):
        fail("aborted", code=130)
    except KeyboardInterrupt:
        fail("interrupted", code=130)
