"""Refuse a mining job that cannot fit in memory, before allocating anything.

The estimate adds what ``TripletMiner.mine`` allocates beyond the features the caller already
holds: a float32 copy of them when they are not float32 already (or cosine normalises them),
the search structures (``NegativeSearch``: the projection, the k-NN index, the farthest search's
augmented vectors, or copies of the full features in exact mode), one block of the candidate
table, and about 120 bytes per triplet (the plan's arrays and their sort temporaries, the
result). The limit is ``MemAvailable`` in ``/proc/meminfo`` (memory the kernel can hand out
without swapping); where that file is missing no limit is applied.
"""

from __future__ import annotations

from pathlib import Path

from siamese.errors import ConfigError
from siamese.mining._candidate_table import block_rows, row_bytes
from siamese.mining.negative_search import EXACT_BUDGET, SearchOptions

BYTES_PER_TRIPLET = 120
MEMINFO = Path("/proc/meminfo")


def available_bytes(meminfo: Path = MEMINFO) -> int | None:
    """``MemAvailable`` in bytes, or ``None`` when the system does not say."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def mining_bytes(
    n: int,
    dim: int,
    total: int,
    options: SearchOptions,
    *,
    largest: int = 1,
    copy_features: bool = False,
    with_features: bool = True,
) -> int:
    """Estimated bytes a mining job allocates: ``n`` items of ``dim``-d, ``total`` triplets.

    Args:
        n, dim, total: the sizes.
        options: the search options (exact or projected, candidate counts).
        largest: the largest class's size (it widens the k-NN and farthest searches).
        copy_features: the features are converted to float32 (a copy).
        with_features: ``False`` for rules that need no features (``random``).
    """
    est = total * BYTES_PER_TRIPLET + n * 8 * 4  # triplets; labels and per-item arrays
    if not with_features:
        return est
    if copy_features:
        est += n * dim * 4
    exact = options.exact if options.exact is not None else n * n * dim <= EXACT_BUDGET
    exact = exact or dim <= options.search_dim
    sd = dim if exact else options.search_dim
    # search vectors, k-NN index (flat copy or IVF lists with ids), farthest's augmented copy
    # (plus its transient twin); approximate mode adds the projection's own array
    est += n * sd * 4 * 2 + n * (sd + 1) * 4 * 2 + (0 if exact else n * 8)
    width = sum(min(n, k + largest, 2048) for k in (options.k_near, options.k_far))
    width += min(n, options.n_random)
    rows = min(max(total, 1), n, block_rows(width, options.chunk))
    est += rows * row_bytes(width)
    return est


def check_fits(what: str, need: int, available: int | None = None) -> None:
    """Raise ``ConfigError`` when ``need`` bytes exceed the memory available.

    Args:
        what: the job, named in the message (``"mining 70,000 items x 2048-d, ..."``).
        need: the estimate in bytes.
        available: the limit in bytes (default: ``available_bytes()``; ``None``: no limit).
    """
    limit = available_bytes() if available is None else available
    if limit is not None and need > limit:
        raise ConfigError(
            f"{what}: needs about {need / 2**30:,.1f} GiB but only {limit / 2**30:,.1f} GiB "
            f"of memory is available (MemAvailable in {MEMINFO}); mine fewer triplets or "
            "items, or use lower-dimensional features"
        )
