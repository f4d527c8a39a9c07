"""The examples: variety across class pairs, series thumbnails that keep amplitude, full names."""

from __future__ import annotations

import numpy as np

from siamese.reporting.run_data import example_pairs
from siamese.reporting.thumbnails import channel_labels, series_thumbnail


def test_examples_take_one_pair_per_class_pair_first():
    # 6 items: classes 0,0,1,1,2,2. The four lowest-scored same-class pairs are all of class 0
    # (the two items paired again in other orders are different pairs by position).
    labels = np.array([0, 0, 1, 1, 2, 2])
    left = np.array([0, 0, 0, 1, 2, 4, 0, 3])
    right = np.array([1, 1, 1, 0, 3, 5, 2, 5])
    scores = np.array([0.01, 0.02, 0.03, 0.04, 0.3, 0.4, 0.9, 0.95])
    same = labels[left] == labels[right]
    pairs = {"left": left, "right": right, "scores": scores, "same": same}
    picks = example_pairs(pairs, threshold=0.5, per_kind=3, labels=labels)
    rejects = picks["false_reject"]
    assert [int(labels[left[i]]) for i in rejects] == [0, 1, 2]  # one class per pick
    assert rejects[0] == 0  # the worst one still first
    # Without labels: the worst distinct item pairs, whatever their classes (old behaviour).
    assert example_pairs(pairs, threshold=0.5, per_kind=3)["false_reject"] == [0, 4, 5]


def test_series_thumbnails_keep_amplitude_and_full_channel_names():
    t = np.linspace(0, 6, 40, dtype=np.float32)
    loud = np.stack([np.sin(t), np.cos(t)], axis=1) * 5.0
    quiet = loud * 0.1
    ranges = (loud.min(axis=0), loud.max(axis=0))
    # Each channel scaled to its own range, a quiet series drew exactly like a loud one.
    assert series_thumbnail(quiet) == series_thumbnail(loud)
    assert series_thumbnail(quiet, ranges=ranges) != series_thumbnail(loud, ranges=ranges)
    names = ["throughput_in_bytes_per_s", "latency"]
    labels = channel_labels(names, *ranges, shared=True)
    assert labels[0].startswith("throughput_in_bytes_per_s [")  # never cut
    assert labels[1] == f"latency [{ranges[0][1]:.3g}, {ranges[1][1]:.3g}]"
