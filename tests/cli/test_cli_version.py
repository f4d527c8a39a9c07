"""`siamese --version` prints the one version the package carries (siamese.__version__)."""

from __future__ import annotations

import shutil
import subprocess
from importlib import metadata

import pytest
from _limits import HANG_S

import siamese


def test_version_option_prints_the_package_version():
    script = shutil.which("siamese")
    if script is None:
        pytest.skip("the siamese console script is not installed")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=HANG_S)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"siamese {siamese.__version__}"


def test_distribution_name_and_version_agree():
    """The installed distribution is siamese-oneshot, at the version the import reports."""
    try:
        installed = metadata.version("siamese-oneshot")
    except metadata.PackageNotFoundError:
        pytest.skip("siamese-oneshot is not installed (running from a source tree)")
    assert installed == siamese.__version__
