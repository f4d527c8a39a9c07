"""Shared fixtures: the real datasets in ../shared/data (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # tests run in parallel workers; one thread each keeps them fast

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$SIAMESE_SHARED_DATA`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get("SIAMESE_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets; tests that need it skip when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real datasets not found at {path} (set SIAMESE_SHARED_DATA)")
    return path
