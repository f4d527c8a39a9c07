"""Search each anchor item once, however many triplets it anchors.

A long sequence uses the same anchor item many times (700,000 triplets over 70,000 items: ten
times each). The candidate search (k-NN, farthest, random items and their exact distances) is
the expensive part, so it runs once per distinct anchor, and every triplet of that anchor
chooses among the same stored candidates with its own target. The table stores positions as
int32 and squared distances as float32 (what faiss computes), so the ``(B, W)`` float64
distances a rule sees are bit-identical to a fresh search of the same anchors.

Distinct anchors are searched in the order of their first use, ``chunk`` at a time, as the
triplets were before, and at most ``block`` rows are held at once: the triplets are then
served block by block.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from siamese.mining.negative_search import Candidates, NegativeSearch

TABLE_BYTES = 384 * 2**20  # the most a table block holds (rows of int32 + float32 + bool)
SEARCH_BATCH = 8192  # anchors per faiss k-NN / farthest call (2.6x faster per query than 1,024)


def row_bytes(width: int) -> int:
    """Bytes one stored anchor takes: an int32 position, a float32 distance, a flag each."""
    return width * (4 + 4 + 1)


def block_rows(width: int, chunk: int) -> int:
    """Distinct anchors held at once: a whole number of chunks within ``TABLE_BYTES``."""
    return max(chunk, TABLE_BYTES // row_bytes(width) // chunk * chunk)


class CandidateTable:
    """Stored candidates of distinct anchors ``(U,)``, searched ``search.options.chunk`` at a time.

    Args:
        search: the ``NegativeSearch`` to ask.
        anchors: ``(U,)`` distinct dataset positions, in the order they are searched.
    """

    def __init__(self, search: NegativeSearch, anchors: np.ndarray):
        u, w = len(anchors), search.width
        small = len(search) < 2**31
        self.index = np.empty((u, w), dtype=np.int32 if small else np.int64)
        self.sq = np.empty((u, w), dtype=np.float32)
        self.valid = np.empty((u, w), dtype=bool)
        step = search.options.chunk
        big = step * max(1, SEARCH_BATCH // step)  # k-NN and farthest: large faiss batches
        for b in range(0, u, big):
            found = search.searched(anchors[b : b + big])  # (b, K)
            for s in range(b, min(u, b + big), step):  # random items: one draw per chunk
                part = found[s - b : s - b + step]
                idx, sq, ok = search.raw_candidates(anchors[s : s + step], part)
                self.index[s : s + step], self.sq[s : s + step] = idx, sq
                self.valid[s : s + step] = ok
        self.search = search

    def rows(self, slot: np.ndarray) -> Candidates:
        """Candidates of table rows ``slot`` ``(B,)``, with float64 distances."""
        return Candidates(
            index=self.index[slot].astype(np.int64),
            dist=self.search.to_distance(self.sq[slot].astype(np.float64)),
            valid=self.valid[slot],
        )


def by_anchor(
    search: NegativeSearch, anchor: np.ndarray
) -> Iterator[tuple[np.ndarray, CandidateTable, np.ndarray]]:
    """Triplet positions with the table rows of their anchors, one block of anchors at a time.

    Args:
        search: the search that fills the tables.
        anchor: ``(T,)`` anchors of the triplets.

    Yields:
        ``(positions, table, rows)``: triplet positions ``(M,)`` in sequence order, the table
        of this block and each position's row in it ``(M,)``.
    """
    uniq, first, inverse = np.unique(anchor, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct anchors by first use
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    slot = rank[inverse.reshape(-1)]  # (T,) row of each triplet's anchor
    block = block_rows(search.width, search.options.chunk)
    for b0 in range(0, len(uniq), block):
        table = CandidateTable(search, uniq[order[b0 : b0 + block]])
        pos = np.flatnonzero((slot >= b0) & (slot < b0 + block))
        yield pos, table, slot[pos] - b0
