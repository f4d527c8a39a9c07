"""Index tuples into a batch, in pytorch-metric-learning's ``indices_tuple`` convention.

Pairs are ``(a1, p, a2, n)``: ``(a1[i], p[i])`` are same-class pairs, ``(a2[j], n[j])``
different-class pairs. Triplets are ``(a, p, n)``. All are int64 tensors of batch positions.
"""

from __future__ import annotations

import torch

Pairs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
Triplets = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def all_pairs(labels: torch.Tensor) -> Pairs:
    """Every same-class pair ``i < j`` and every different-class pair ``i < j`` of a batch."""
    same = labels[:, None] == labels[None, :]  # (B, B)
    upper = torch.triu(torch.ones_like(same), diagonal=1)
    a1, p = torch.nonzero(same & upper, as_tuple=True)
    a2, n = torch.nonzero(~same & upper, as_tuple=True)
    return a1, p, a2, n


def all_triplets(labels: torch.Tensor) -> Triplets:
    """Every ``(a, p, n)`` with ``p != a`` of a's class and ``n`` of another class."""
    same = labels[:, None] == labels[None, :]  # (B, B)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos = same & ~eye
    valid = pos[:, :, None] & ~same[:, None, :]  # (B, B, B): [a, p, n]
    a, p, n = torch.nonzero(valid, as_tuple=True)
    return a, p, n


def triplets_to_pairs(triplets: Triplets) -> Pairs:
    """Each triplet ``(a, p, n)`` becomes the pairs ``(a, p)`` and ``(a, n)``."""
    a, p, n = triplets
    return a, p, a, n


def check_tuples(tuples: tuple, kind: str, batch_size: int) -> None:
    """Raise ``ValueError`` if ``tuples`` are not ``kind`` index tuples into a batch of that size."""
    expected = 4 if kind == "pairs" else 3
    if len(tuples) != expected:
        raise ValueError(
            f"indices tuple: expected {expected} index tensors for {kind}, got {len(tuples)}"
        )
    for t in tuples:
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= batch_size):
            raise ValueError(
                f"indices tuple: index out of range for a batch of {batch_size} embeddings"
            )
