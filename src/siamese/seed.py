"""One seed for Python, NumPy and torch."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's legacy global state and torch; return a fresh Generator.

    Args:
        seed: any non-negative integer.

    Returns:
        ``np.random.default_rng(seed)``, the generator library code should draw from.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def derived_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator for one (seed, epoch, ...) combination, independent of anything drawn before.

    Training draws each epoch's batches from ``derived_rng(seed, epoch)``, so an epoch replays
    identically after ``--resume`` without saving sampler state.
    """
    return np.random.default_rng([seed, *keys])
