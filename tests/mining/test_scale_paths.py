"""The paths that make mining scale: one search per distinct anchor, table blocks, fast-scan
k-NN, and the up-front memory refusal — each checked against a fresh or exhaustive search."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.errors import ConfigError
from siamese.mining import (
    HardnessSequencer,
    NegativeSearch,
    OfflineMiner,
    SearchOptions,
    _candidate_table,
    exhaustive_hardness,
)
from siamese.mining._candidate_table import CandidateTable
from siamese.mining._farthest import FarthestSearch
from siamese.mining._memory import available_bytes, check_fits, mining_bytes


def _clustered(n: int, classes: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    latent = rng.standard_normal((classes, 8))[labels] @ rng.standard_normal((8, dim))
    return (latent + 0.3 * rng.standard_normal((n, dim))).astype(np.float32), labels


def test_table_rows_equal_a_fresh_search_of_the_same_anchors() -> None:
    x, labels = _clustered(3000, 1000, 24)
    anchors = np.random.default_rng(1).permutation(3000)[:2500]
    opts = SearchOptions(exact=False, search_dim=8, chunk=512)
    table = CandidateTable(NegativeSearch(x, labels, options=opts, seed=3), anchors)
    fresh = NegativeSearch(x, labels, options=opts, seed=3)
    for s in range(0, len(anchors), 512):
        want = fresh.candidates(anchors[s : s + 512])
        got = table.rows(np.arange(s, min(s + 512, len(anchors))))
        np.testing.assert_array_equal(got.index, want.index)
        np.testing.assert_array_equal(got.dist, want.dist)  # bit-identical float64
        np.testing.assert_array_equal(got.valid, want.valid)


@pytest.mark.parametrize("miner", [HardnessSequencer("cyclic_sigmoid"), OfflineMiner("hardest")])
def test_repeated_anchors_across_table_blocks_match_one_block(monkeypatch, miner) -> None:
    """Each item anchors ~8 triplets; a table of 2 chunks (several blocks) changes nothing."""
    x, labels = _clustered(600, 200, 16)
    opts = SearchOptions(chunk=64)
    miner.search_options = opts
    one = miner.mine(labels, x, 5000)
    width = NegativeSearch(x, labels, options=opts).width
    monkeypatch.setattr(_candidate_table, "TABLE_BYTES", 2 * 64 * _candidate_table.row_bytes(width))
    assert _candidate_table.block_rows(width, 64) == 128 < len(np.unique(one.anchor))
    many = miner.mine(labels, x, 5000)
    np.testing.assert_array_equal(many.negative, one.negative)
    np.testing.assert_array_equal(many.achieved, one.achieved)
    # and exact (candidates cover every negative here): the chosen negative is the best there is
    for i in range(0, 5000, 97):
        ref = exhaustive_hardness(x, labels, one.anchor[i], one.negative[i])
        assert abs(one.achieved[i] - ref) < 1e-4


def test_fast_scan_knn_stays_close_to_exhaustive() -> None:
    x, labels = _clustered(3000, 1500, 96)
    opts = SearchOptions(exact=False, search_dim=16, fast_scan=True)
    seq = HardnessSequencer("sigmoid", search=opts)
    assert seq.build_search(labels, x).fast_scan
    t = seq.mine(labels, x, 1500)
    true = np.array(
        [exhaustive_hardness(x, labels, a, n) for a, n in zip(t.anchor, t.negative, strict=True)]
    )
    assert not np.any(labels[t.negative] == labels[t.anchor])
    assert np.abs(true - t.target).mean() < 0.03


def test_absurd_sizes_are_refused_up_front_with_the_estimate_and_the_limit() -> None:
    need = mining_bytes(10**9, 2048, 10**9, SearchOptions())
    assert need > 10**12  # a billion items: their 64-d projection and indexes alone pass 1 TB
    with pytest.raises(
        ConfigError, match=r"^a job: needs about [\d,.]+ GiB but only 1\.0 GiB of memory is avail"
    ):
        check_fits("a job", need, available=2**30)
    check_fits("a job", 10, available=2**30)  # fits: no error
    x, labels = _clustered(240, 30, 8)
    if available_bytes() is None:
        pytest.skip("no /proc/meminfo here: no limit to refuse against")
    with pytest.raises(
        ConfigError,
        match=r"mining 100,000,000,000 triplets over 240 items of 8-d features: needs about",
    ):
        HardnessSequencer("sigmoid").mine(labels, x, 10**11)  # instant: nothing allocated


def test_uncertified_farthest_search_is_the_pools_exact_top_k() -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((3000, 5)).astype(np.float32) * np.array([3, 2, 1, 1, 0.5], np.float32)
    q = rng.standard_normal((200, 5)).astype(np.float32) * 2
    fs = FarthestSearch(v, pool_size=256, certify=False)
    got = fs.search(q, 4)
    assert fs.fallbacks == 0 and set(got.ravel()) <= set(fs.pool)
    pool = v[fs.pool]
    d = ((q[:, None, :] - pool[None]) ** 2).sum(-1)  # (200, 256): the pool only
    want = np.sort(d, axis=1)[:, ::-1][:, :4]
    d_got = ((q[:, None, :] - v[got]) ** 2).sum(-1)
    np.testing.assert_allclose(d_got, want, rtol=1e-5)
