"""Calibrating the "unknown" threshold for a false-accept rate, measured on held-out impostors."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.errors import ConfigError, DataError
from siamese.gallery import Gallery
from siamese.gallery._calibration import threshold_for_far


def test_threshold_for_far_accepts_at_most_the_target_share():
    s = np.arange(1, 101, dtype=float)  # 100 impostor distances 1..100
    t = threshold_for_far(s, 0.05)
    assert np.sum(s <= t) == 5 and t == pytest.approx(5.5)
    assert np.sum(s <= threshold_for_far(s, 0.0)) == 0
    with pytest.raises(
        ConfigError, match=r"far: expected a false-accept rate in \[0, 1\), got 1.5"
    ):
        threshold_for_far(s, 1.5)
    with pytest.raises(DataError, match="no impostor queries"):
        threshold_for_far(np.array([]), 0.1)


def test_calibrated_rate_holds_on_held_out_impostors(make_identity, make_clusters):
    dim, far = 8, 0.05
    model = make_identity(dim)
    enrolled_x, enrolled_y = make_clusters(40, 1, dim, seed=1)  # one shot per class
    g = Gallery(model).fit(enrolled_x, enrolled_y)
    # validation: 500 queries of 500 never-enrolled classes (one each, so impostors are
    # independent: queries of one class share its distance to the gallery) + genuine queries
    imp_x, imp_y = make_clusters(500, 1, dim, seed=2)
    gen_x = enrolled_x.repeat(5, axis=0) + 0.3 * np.random.default_rng(3).normal(size=(200, dim))
    gen_y = list(np.repeat(enrolled_y, 5))
    g.calibrate(np.concatenate([imp_x, gen_x]).astype(np.float32), imp_y + gen_y, far=far)
    cal = g.calibration_
    assert cal["mode"] == "unenrolled-classes" and cal["impostors"] == 500 and cal["genuine"] == 200
    assert cal["far"] <= far and cal["threshold"] == g.threshold_
    # held out: 1,000 queries of 1,000 other never-enrolled classes: "unknown" at the rate
    test_x, _ = make_clusters(1000, 1, dim, seed=4)
    accepted = np.mean([r.known for r in g.identify(test_x, k=1)])
    assert abs(accepted - far) < 0.035
    # well-separated clusters: genuine queries are found and accepted
    fresh = enrolled_x + 0.3 * np.random.default_rng(5).normal(size=enrolled_x.shape)
    results = g.identify(fresh.astype(np.float32), k=1)
    assert np.mean([r.label == y for r, y in zip(results, enrolled_y, strict=True)]) > 0.9


def test_leave_own_class_out_when_every_class_is_enrolled(make_identity, make_clusters):
    x, y = make_clusters(30, 4, 6, seed=7)
    g = Gallery(make_identity(6)).fit(x[::4], y[::4])
    g.calibrate(np.delete(x, np.s_[::4], axis=0), [v for i, v in enumerate(y) if i % 4], far=0.1)
    assert g.calibration_["mode"] == "leave-own-class-out"
    assert g.calibration_["impostors"] == 90 and g.calibration_["far"] <= 0.1
    assert g.calibration_["detection_rate"] > 0.8


def test_calibrate_needs_an_impostor_source(make_identity):
    g = Gallery(make_identity(2)).fit(np.eye(2, dtype=np.float32), ["a", "b"])
    g2 = Gallery(make_identity(2)).fit(np.eye(2, dtype=np.float32)[:1], ["a"])
    with pytest.raises(DataError, match="non-enrolled classes or >= 2 enrolled"):
        g2.calibrate(np.eye(2, dtype=np.float32)[:1], ["a"])
    with pytest.raises(ConfigError, match="far: expected"):
        g.calibrate(np.eye(2, dtype=np.float32), ["a", "z"], far=-0.1)
