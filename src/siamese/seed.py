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


def epoch_torch_seeds(seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> tuple[int, int]:
    """``(torch seed, augmentation seed)`` of one epoch on one rank.

    Every rank draws the same global batch (``derived_rng(seed, epoch)``) but holds a different
    slice of it, so the random draws applied per item (dropout masks, augmentation) must differ
    between ranks, or item ``i`` of every slice would get the same mask and transform. A single
    process keeps the keys ``(seed, epoch, 1)`` and ``(seed, epoch, 2)``.
    """
    rank_key = (int(rank),) if world_size > 1 else ()
    return (
        int(derived_rng(seed, epoch, 1, *rank_key).integers(2**62)),
        int(derived_rng(seed, epoch, 2, *rank_key).integers(2**62)),
    )
