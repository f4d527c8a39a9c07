"""Usage errors through the installed `siamese` console script: two lines at most, exit code 2.

Each command gets an unknown option, a missing argument (or an option without its value) and a
bad value (a wrong type, or a value given to a flag); parsing fails before any command runs, so
no file is read or written. The script is run in a subprocess exactly as a user runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from _limits import HANG_S

from siamese.cli._usage import usage_exception_types
from siamese.cli.app import app


def _script() -> str | None:
    """The console script installed beside this interpreter (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "siamese"
    return str(beside) if beside.exists() else shutil.which("siamese")


SCRIPT = _script()
needs_script = pytest.mark.skipif(
    SCRIPT is None, reason="the `siamese` console script is not installed (pip install -e .)"
)

# command -> (unknown option, missing argument or value, bad value); None: the command has none
CASES: dict[str, tuple[list[str], list[str] | None, list[str]]] = {
    "encoders": (["encoders", "--bogus"], None, ["encoders", "--json=yes"]),
    "demo": (["demo", "--bogus"], ["demo", "--seed"], ["demo", "--seed", "one"]),
    "train": (["train", "--bogus"], ["train", "--config"], ["train", "--resume=yes"]),
    "evaluate": (["evaluate", "r", "--bogus"], ["evaluate"], ["evaluate", "r", "--n-way", "five"]),
    "enroll": (
        ["enroll", "r", "--out", "g", "--bogus"],
        ["enroll", "--out", "g"],
        ["enroll", "r", "--out", "g", "--shots", "one"],
    ),
    "identify": (
        ["identify", "g", "q.png", "--bogus"],
        ["identify"],
        ["identify", "g", "q.png", "--k", "five"],
    ),
    "discover": (
        ["discover", "g", "q.csv", "--bogus"],
        ["discover"],
        ["discover", "g", "q.csv", "--min-cluster-size", "two"],
    ),
    "verify": (
        ["verify", "r", "a.png", "b.png", "--bogus"],
        ["verify", "r", "a.png"],
        ["verify", "r", "a.png", "b.png", "--threshold", "near"],
    ),
    "export": (["export", "r", "--bogus"], ["export"], ["export", "r", "--json=yes"]),
    "serve": (["serve", "g", "--bogus"], ["serve"], ["serve", "g", "--port", "http"]),
    "prune": (
        ["prune", "r", "--amount", "0.5", "--out", "o", "--bogus"],
        ["prune", "r", "--out", "o"],
        ["prune", "r", "--amount", "half", "--out", "o"],
    ),
    "report": (["report", "r", "--bogus"], ["report"], ["report", "r", "extra"]),
    "sweep": (["sweep", "c.toml", "--bogus"], ["sweep", "--grid"], ["sweep", "--overwrite=yes"]),
    "mine": (["mine", "-s", "csv", "--bogus"], ["mine"], ["mine", "-s", "csv", "--triplets", "x"]),
    "import-weights": (
        ["import-weights", "face-api", "m", "--out", "o", "--bogus"],
        ["import-weights", "face-api"],
        ["import-weights", "face-api", "m", "--out", "o", "--crop", "wide"],
    ),
    "data inspect": (
        ["data", "inspect", "--bogus"],
        ["data", "inspect", "--source"],
        ["data", "inspect", "--seed", "one"],
    ),
    "data sources": (["data", "sources", "--bogus"], None, ["data", "sources", "--json=yes"]),
}

MISSING = ("Missing argument", "Missing option", "requires an argument")
BAD_VALUE = ("Invalid value", "does not take a value", "unexpected extra argument")


def _run(args: list[str], tmp_path: Path) -> tuple[int, list[str]]:
    """Run the console script; return its exit code and its stderr lines (stdout must be empty)."""
    done = subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, cwd=tmp_path, timeout=HANG_S
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.stdout == "", done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written
    return done.returncode, done.stderr.strip().splitlines()


def _cases() -> list[tuple[str, str, list[str]]]:
    rows = []
    for command, (unknown, missing, bad) in CASES.items():
        rows.append((command, "unknown option", unknown))
        if missing is not None:
            rows.append((command, "missing", missing))
        rows.append((command, "bad value", bad))
    return rows


@needs_script
@pytest.mark.parametrize(("command", "kind", "args"), _cases(), ids=lambda v: str(v))
def test_usage_error_is_two_lines_and_exit_2(tmp_path, command, kind, args):
    code, lines = _run(args, tmp_path)
    assert code == 2, lines
    assert 1 <= len(lines) <= 2, lines
    assert lines[0].startswith(f"error: siamese {command}: "), lines
    assert lines[-1] == f"run 'siamese {command} --help' for usage"
    needles = {"unknown option": ("no such option",), "missing": MISSING, "bad value": BAD_VALUE}
    assert any(n in lines[0] for n in needles[kind]), lines[0]


@needs_script
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["train", "--confg", "x.toml"],
            "error: siamese train: no such option --confg; did you mean --config?",
        ),
        (["identify", "g", "q.png", "--jsno"], "no such option --jsno; did you mean --json?"),
        (
            ["train", "--bogus"],
            "valid options: --config, --source, --option, --set, --resume, --overwrite, --json",
        ),
        (["idnetify", "g"], "error: siamese: no such command 'idnetify'; did you mean 'identify'?"),
        (["nosuchcommand"], "no such command 'nosuchcommand'; valid commands: "),
        (
            ["data", "inspct"],
            "error: siamese data: no such command 'inspct'; did you mean 'inspect'?",
        ),
        (["--bogus"], "error: siamese: no such option --bogus; options go after a command"),
    ],
)
def test_typos_get_the_closest_valid_name(tmp_path, args, expected):
    code, lines = _run(args, tmp_path)
    assert code == 2 and len(lines) == 2, lines
    assert expected in lines[0], lines[0]
    if expected.endswith("valid commands: "):  # every command, in whichever order click lists them
        listed = lines[0].split(expected)[1].split(", ")
        assert sorted(listed) == sorted(typer.main.get_command(app).commands)


def test_every_command_has_usage_cases():
    """A new command must add its cases above."""
    root = typer.main.get_command(app)

    def leaves(cmd, prefix: str) -> list[str]:
        subs = getattr(cmd, "commands", None)
        if not subs:
            return [prefix]
        return [n for name, sub in subs.items() for n in leaves(sub, f"{prefix} {name}".strip())]

    assert sorted(leaves(root, "")) == sorted(CASES)


def test_plain_click_exceptions_are_caught_too():
    """Whichever click typer raises from is caught, and plain click's too once it is loaded."""
    assert issubclass(typer.BadParameter, usage_exception_types("ClickException"))
    click = pytest.importorskip("click")
    assert click.exceptions.ClickException in usage_exception_types("ClickException")
    assert click.exceptions.Abort in usage_exception_types("Abort")
