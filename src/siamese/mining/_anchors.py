"""Anchor and positive sequencing: every eligible class serves as anchor, in a fair order.

The class order concatenates fresh random permutations of the eligible classes until the
sequence length is reached; the remainder (fewer than one permutation) is a random sample of
distinct classes. Each time a class comes back, its next anchor item is used (the class's items
in a shuffled cycle), so repeated passes do not reuse the same anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siamese.errors import DataError


@dataclass
class AnchorPlan:
    """The feature-independent part of a triplet sequence.

    Attributes:
        anchor: ``(T,)`` dataset positions of the anchors, in order.
        positive: ``(T,)`` positives (a different item of the anchor's class, or the anchor
            itself for single-item classes when self-positives are allowed).
        classes: the eligible classes (those that can serve as anchor).
        skipped: classes that cannot serve as anchor (no positive, or no reference item).
    """

    anchor: np.ndarray
    positive: np.ndarray
    classes: np.ndarray
    skipped: np.ndarray


def _grouped(labels: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """Items where ``mask`` holds, grouped by class, shuffled within: (items, classes, start, count)."""
    items = np.flatnonzero(mask)
    order = np.lexsort((rng.random(len(items)), labels[items]))
    items = items[order]
    classes, start, count = np.unique(labels[items], return_index=True, return_counts=True)
    return items, classes, start, count


def _lookup(classes: np.ndarray, start: np.ndarray, count: np.ndarray, wanted: np.ndarray):
    """Start and count of each wanted class in a grouping (count 0 when absent)."""
    if len(classes) == 0:
        zeros = np.zeros(len(wanted), dtype=np.int64)
        return zeros, zeros.copy()
    pos = np.clip(np.searchsorted(classes, wanted), 0, len(classes) - 1)
    found = classes[pos] == wanted
    return np.where(found, start[pos], 0), np.where(found, count[pos], 0)


def class_order(classes: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Concatenated fresh permutations of ``classes`` up to ``total``, remainder drawn randomly."""
    full, rest = divmod(total, len(classes))
    parts = [rng.permutation(classes) for _ in range(full)]
    parts.append(rng.choice(classes, size=rest, replace=False))
    return np.concatenate(parts).astype(np.int64)


def _occurrence(seq: np.ndarray) -> np.ndarray:
    """For each position, how many times its value appeared before it (0, 1, 2, ...)."""
    order = np.argsort(seq, kind="stable")
    sorted_seq = seq[order]
    first = np.searchsorted(sorted_seq, sorted_seq, side="left")
    occ = np.empty(len(seq), dtype=np.int64)
    occ[order] = np.arange(len(seq)) - first
    return occ


def plan_anchors(
    labels: np.ndarray,
    total: int,
    rng: np.random.Generator,
    *,
    reference_mask: np.ndarray | None = None,
    allow_self_positive: bool = False,
) -> AnchorPlan:
    """Sequence ``total`` (anchor, positive) pairs so that every eligible class serves as anchor.

    Args:
        labels: ``(N,)`` integer labels.
        total: the number of triplets ``T`` to plan.
        rng: the generator every draw comes from.
        reference_mask: ``(N,)`` booleans marking reference (catalog) items. For a class with
            a reference item, anchors are its reference items and positives its other items
            (photos). Classes without a reference item, and every class when the mask is
            ``None`` or all false, use any item as anchor and a different item as positive.
        allow_self_positive: when true, a class with no other usable item still serves as
            anchor with the anchor itself as positive (a zero-distance positive); when false
            such classes are skipped and listed in ``skipped``.

    Returns:
        An ``AnchorPlan``.

    Raises:
        DataError: no class can serve as anchor, or the mask does not match the labels.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if total < 1:
        raise DataError(f"total: expected at least 1 triplet, got {total}")
    ref = np.zeros(n, dtype=bool) if reference_mask is None else np.asarray(reference_mask, bool)
    if ref.shape != (n,):
        raise DataError(
            f"reference_mask: expected {n} booleans (one per item), got shape {ref.shape}"
        )
    has_ref = np.zeros(int(labels.max()) + 1 if n else 0, dtype=bool)
    has_ref[labels[ref]] = True
    # Anchor pool: the references of classes that have some, every item of the others.
    a_items, a_cls, a_start, a_count = _grouped(labels, ref | ~has_ref[labels], rng)
    p_items, p_cls, p_start, p_count = _grouped(labels, ~ref & has_ref[labels], rng)
    _, p_n = _lookup(p_cls, p_start, p_count, a_cls)
    usable = np.where(has_ref[a_cls], p_n, a_count - 1)  # positives other than the anchor
    ok = (usable >= 1) | allow_self_positive
    classes, skipped = a_cls[ok], a_cls[~ok]
    if len(classes) == 0:
        raise DataError(
            "anchors: no class has 2 items (or a reference item and a photo), so no triplet "
            "has a positive; add examples or allow self-positives (allow_self_positive=True)"
        )
    order = class_order(classes, total, rng)
    occ = _occurrence(order)
    a0, an = _lookup(a_cls, a_start, a_count, order)
    slot = occ % an
    anchor = a_items[a0 + slot]
    # Same pool: a different item, shifting by 1..n-1 from the anchor's slot.
    shift = 1 + (rng.random(total) * np.maximum(an - 1, 1)).astype(np.int64)
    positive = np.where(an >= 2, a_items[a0 + (slot + shift) % an], anchor)
    if len(p_items):
        p0, pn = _lookup(p_cls, p_start, p_count, order)
        pick = p0 + (rng.random(total) * np.maximum(pn, 1)).astype(np.int64)
        photo = np.where(pn >= 1, p_items[np.minimum(pick, len(p_items) - 1)], anchor)
        positive = np.where(has_ref[order], photo, positive)
    return AnchorPlan(anchor.astype(np.int64), positive.astype(np.int64), classes, skipped)
