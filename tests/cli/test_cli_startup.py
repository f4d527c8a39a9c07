"""The command line starts without loading the library: `siamese --help` and argument errors are
instant, and torch / pytorch-metric-learning load only when a command runs."""

from __future__ import annotations

import re
import subprocess
import sys

from _limits import HANG_S

from siamese.cli.mine import STRATEGY_HELP
from siamese.mining import SEQUENCED_STRATEGIES


def test_cli_import_does_not_load_torch():
    code = (
        "import sys, siamese.cli.app; "
        "print(sorted(m for m in ('torch', 'pytorch_metric_learning', 'faiss') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_S
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_lists_the_commands():
    done = subprocess.run(
        [sys.executable, "-m", "siamese", "--help"], capture_output=True, text=True, timeout=HANG_S
    )
    assert done.returncode == 0, done.stderr
    for command in ("train", "evaluate", "mine", "data", "encoders", "serve", "identify"):
        assert re.search(rf"\b{command}\b", done.stdout), command


def test_mine_strategy_help_names_every_strategy():
    """The written-out help of --strategy stays in step with the library's strategies."""
    words = set(re.findall(r"[a-z_]+", STRATEGY_HELP))
    for name in SEQUENCED_STRATEGIES:
        curve = name.removeprefix("cyclic_")
        assert name in words or (name.startswith("cyclic_") and curve in words), name
    assert "cyclic_" in STRATEGY_HELP
