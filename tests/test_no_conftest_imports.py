"""No test imports a ``conftest`` module by name.

Several folders have a ``conftest.py``; which one ``import conftest`` finds depends on which test
files were collected first in the process (under ``-n 2`` a worker collects in another order), so
such an import passes alone and fails in the whole suite. Share helpers through fixtures, or
through a uniquely named module (``tests/tiny_runs.py``, ``tests/_limits.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
IMPORT = re.compile(r"^\s*(from\s+conftest\s+import|import\s+conftest\b)", re.MULTILINE)


def test_no_test_imports_a_conftest_by_name():
    found = [
        f"{path.relative_to(TESTS)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in sorted(TESTS.rglob("*.py"))
        for text in [path.read_text(encoding="utf-8")]
        for m in IMPORT.finditer(text)
        if path.name != Path(__file__).name
    ]
    assert not found, f"tests import a conftest by name (order-dependent): {found}"
