"""Run the `siamese` CLI in-process, as the console script would, for tests."""

from __future__ import annotations

from siamese.cli.app import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI with ``args``; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err
