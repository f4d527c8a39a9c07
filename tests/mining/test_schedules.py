"""Hardness schedules: shapes, ranges, end points, cyclic replay and errors."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.errors import ConfigError
from siamese.mining import create_schedule, cyclic, list_schedules, schedule_from_settings

P = np.linspace(0.0, 1.0, 201)


@pytest.mark.parametrize("name", list_schedules())
def test_every_schedule_maps_progress_into_unit_interval(name: str) -> None:
    s = create_schedule(name)
    h = s(P)
    assert h.shape == P.shape and np.all((h >= 0) & (h <= 1))
    assert s.over(7).shape == (7,)
    assert s(1.5) == s(1.0) and s(-1.0) == s(0.0)  # progress is clipped


@pytest.mark.parametrize("name", ["linear", "sine", "tanh", "logarithmic", "sigmoid"])
def test_curves_rise_monotonically_to_the_threshold(name: str) -> None:
    s = create_schedule(name, threshold=0.7)
    h = s(P)
    assert np.all(np.diff(h) >= -1e-12)
    assert h[0] <= 0.01 and abs(h[-1] - 0.7) < 0.01


def test_sigmoid_is_a_generalised_logistic() -> None:
    s = create_schedule("sigmoid", threshold=0.8, growth=6.0, midpoint=0.3)
    expected = 0.8 / (1 + np.exp(-6.0 * (P - 0.3)))
    np.testing.assert_allclose(s(P), expected)
    assert abs(float(s(0.3)) - 0.4) < 1e-12  # half the carrying capacity at the midpoint


def test_constant_and_linear_values() -> None:
    np.testing.assert_allclose(create_schedule("constant", value=0.3)(P), 0.3)
    np.testing.assert_allclose(create_schedule("linear", threshold=0.5)(P), 0.5 * P)


def test_cyclic_replays_the_curve_once_per_slice() -> None:
    base = create_schedule("linear")
    c = cyclic(base, 4)
    assert c.name == "cyclic_linear"
    np.testing.assert_allclose(
        c(np.array([0.0, 0.125, 0.25, 0.375, 0.5, 1.0])), [0, 0.5, 0, 0.5, 0, 1]
    )
    h = create_schedule("cyclic_sigmoid", cycles=3).over(300)
    assert (np.diff(h) < -0.5).sum() == 2  # two resets between three cycles
    np.testing.assert_allclose(h[:100], create_schedule("sigmoid").over(100), atol=0.02)


def test_settings_pick_the_arguments_each_curve_takes() -> None:
    s = schedule_from_settings("cyclic_tanh", threshold=0.6, growth=2.0, midpoint=0.1, cycles=2)
    assert s.params == {"threshold": 0.6, "growth": 2.0, "cycles": 2}
    assert schedule_from_settings("constant", threshold=0.4).params == {"value": 0.4}


def test_schedule_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown schedule 'expo'.*valid schedules: linear"):
        create_schedule("expo")
    with pytest.raises(ConfigError, match="unknown argument.*grwth.*valid arguments"):
        create_schedule("sigmoid", grwth=3)
    with pytest.raises(ConfigError, match=r"threshold: expected a hardness in \[0, 1\], got 1.5"):
        create_schedule("sine", threshold=1.5)
    with pytest.raises(ConfigError, match="cycles: expected an integer >= 1"):
        create_schedule("cyclic_sine", cycles=0)
    with pytest.raises(ConfigError, match="'cycles' applies only to cyclic"):
        create_schedule("sine", cycles=2)
