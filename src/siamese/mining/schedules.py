"""Hardness schedules: curves mapping training progress in [0, 1] to a target hardness in [0, 1].

A ``Schedule`` is a named, vectorised function. Every curve rises from (about) 0 at progress 0 to
``threshold`` at progress 1 — the highest hardness the user allows — except ``constant``, which
stays at its value. ``cyclic(curve, cycles)`` replays a curve once per slice of the sequence.

>>> s = create_schedule("sigmoid", threshold=0.8, growth=12.0)
>>> round(float(s(1.0)), 3)
0.798
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siamese.errors import ConfigError

Curve = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Schedule:
    """A named curve ``progress -> hardness``.

    Attributes:
        name: the schedule's name (``sigmoid``, ``cyclic_sigmoid``, ...).
        curve: vectorised function of progress in [0, 1].
        params: the arguments it was built with (for logs and the run's config).
    """

    name: str
    curve: Curve = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, progress: np.ndarray | float) -> np.ndarray:
        """Target hardness at ``progress`` (clipped to [0, 1]), same shape as the input."""
        p = np.clip(np.asarray(progress, dtype=np.float64), 0.0, 1.0)
        return np.clip(self.curve(p), 0.0, 1.0)

    def over(self, total: int) -> np.ndarray:
        """Targets of ``total`` ordered triplets: progress ``i / (total - 1)`` for triplet ``i``."""
        if total <= 1:
            return self(np.zeros(max(total, 0)))
        return self(np.arange(total) / (total - 1))


def _check(name: str, value: float, lo: float, hi: float, what: str) -> float:
    value = float(value)
    if not lo <= value <= hi or np.isnan(value):
        raise ConfigError(f"{name}: expected {what}, got {value}")
    return value


def linear(threshold: float = 1.0, start: float = 0.0) -> Schedule:
    """``start + (threshold - start) * p``."""
    t = _check("threshold", threshold, 0.0, 1.0, "a hardness in [0, 1]")
    s = _check("start", start, 0.0, 1.0, "a hardness in [0, 1]")
    return Schedule("linear", lambda p: s + (t - s) * p, {"threshold": t, "start": s})


def sine(threshold: float = 1.0) -> Schedule:
    """``threshold * sin(pi/2 * p)``: fast rise, flat end."""
    t = _check("threshold", threshold, 0.0, 1.0, "a hardness in [0, 1]")
    return Schedule("sine", lambda p: t * np.sin(0.5 * np.pi * p), {"threshold": t})


def tanh(threshold: float = 1.0, growth: float = 3.0) -> Schedule:
    """``threshold * tanh(growth * p) / tanh(growth)``: larger growth = faster early rise."""
    t = _check("threshold", threshold, 0.0, 1.0, "a hardness in [0, 1]")
    g = _check("growth", growth, 1e-6, 1e6, "a positive growth rate")
    return Schedule(
        "tanh", lambda p: t * np.tanh(g * p) / np.tanh(g), {"threshold": t, "growth": g}
    )


def logarithmic(threshold: float = 1.0, growth: float = 10.0) -> Schedule:
    """``threshold * log(1 + growth * p) / log(1 + growth)``."""
    t = _check("threshold", threshold, 0.0, 1.0, "a hardness in [0, 1]")
    g = _check("growth", growth, 1e-6, 1e6, "a positive growth rate")
    return Schedule(
        "logarithmic",
        lambda p: t * np.log1p(g * p) / np.log1p(g),
        {"threshold": t, "growth": g},
    )


def sigmoid(threshold: float = 1.0, growth: float = 10.0, midpoint: float = 0.5) -> Schedule:
    """Generalised logistic ``threshold / (1 + exp(-growth * (p - midpoint)))``.

    Args:
        threshold: the carrying capacity (upper asymptote): the highest hardness reached.
        growth: the growth rate; larger = a steeper step around ``midpoint``.
        midpoint: the progress at which the target is half the threshold.
    """
    t = _check("threshold", threshold, 0.0, 1.0, "a hardness in [0, 1]")
    g = _check("growth", growth, 1e-6, 1e6, "a positive growth rate")
    m = _check("midpoint", midpoint, 0.0, 1.0, "a progress in [0, 1]")
    return Schedule(
        "sigmoid",
        lambda p: t / (1.0 + np.exp(-g * (p - m))),
        {"threshold": t, "growth": g, "midpoint": m},
    )


def constant(value: float = 0.5) -> Schedule:
    """The same hardness throughout (``value`` in [0, 1])."""
    v = _check("value", value, 0.0, 1.0, "a hardness in [0, 1]")
    return Schedule("constant", lambda p: np.full_like(p, v, dtype=np.float64), {"value": v})


def cyclic(curve: Schedule, cycles: int = 3) -> Schedule:
    """Replay ``curve`` ``cycles`` times: cycle ``c`` covers progress ``[c/cycles, (c+1)/cycles]``.

    Progress 1 maps to the end of the last cycle, so the sequence ends at the curve's end value.
    """
    if not isinstance(cycles, (int, np.integer)) or cycles < 1:
        raise ConfigError(f"cycles: expected an integer >= 1, got {cycles!r}")
    n = int(cycles)

    def replay(p: np.ndarray) -> np.ndarray:
        scaled = p * n
        local = scaled - np.minimum(np.floor(scaled), n - 1)  # in [0, 1] within each cycle
        return curve.curve(local)

    return Schedule(f"cyclic_{curve.name}", replay, {**curve.params, "cycles": n})


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "linear": linear,
    "sine": sine,
    "tanh": tanh,
    "logarithmic": logarithmic,
    "sigmoid": sigmoid,
    "constant": constant,
}


def list_schedules() -> list[str]:
    """Every schedule name ``create_schedule`` accepts (``cyclic_<curve>`` for each curve)."""
    return [*SCHEDULES, *(f"cyclic_{n}" for n in SCHEDULES if n != "constant")]


def create_schedule(name: str, **kwargs: Any) -> Schedule:
    """A schedule by name; ``cyclic_<curve>`` takes ``cycles`` plus the curve's arguments.

    Args:
        name: one of ``list_schedules()``.
        **kwargs: the curve's arguments (``threshold``, ``growth``, ``midpoint``, ``start``,
            ``value``), and ``cycles`` for cyclic schedules. Arguments a curve does not take are
            errors, so a typo never goes unnoticed.

    Raises:
        ConfigError: unknown name, unknown argument or a value out of range.
    """
    base, cycles = name, None
    if name.startswith("cyclic_"):
        base = name[len("cyclic_") :]
        cycles = kwargs.pop("cycles", 3)
    elif "cycles" in kwargs:
        raise ConfigError(
            f"schedule {name!r}: 'cycles' applies only to cyclic schedules (e.g. cyclic_{name})"
        )
    if base not in SCHEDULES or (cycles is not None and base == "constant"):
        raise ConfigError(
            f"unknown schedule {name!r}; valid schedules: {', '.join(list_schedules())}"
        )
    factory = SCHEDULES[base]
    valid = factory.__code__.co_varnames[: factory.__code__.co_argcount]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(
            f"schedule {name!r}: unknown argument(s) {', '.join(unknown)}; "
            f"valid arguments: {', '.join(valid)}{', cycles' if cycles is not None else ''}"
        )
    sched = factory(**kwargs)
    return sched if cycles is None else cyclic(sched, cycles)


def schedule_from_settings(
    name: str,
    *,
    threshold: float = 1.0,
    growth: float = 10.0,
    midpoint: float = 0.5,
    cycles: int = 1,
) -> Schedule:
    """A schedule from the ``[mining]`` settings, each curve taking the arguments it has.

    ``threshold`` is every curve's end value (``constant``'s value), ``growth`` applies to
    sigmoid, tanh and logarithmic, ``midpoint`` to sigmoid, ``cycles`` to ``cyclic_*``.

    Raises:
        ConfigError: unknown name or a value out of range.
    """
    base = name[len("cyclic_") :] if name.startswith("cyclic_") else name
    offered = {"threshold": threshold, "growth": growth, "midpoint": midpoint}
    if base == "constant":
        return create_schedule(name, value=threshold)
    factory = SCHEDULES.get(base)
    if factory is None:
        raise ConfigError(
            f"unknown schedule {name!r}; valid schedules: {', '.join(list_schedules())}"
        )
    accepted = factory.__code__.co_varnames[: factory.__code__.co_argcount]
    kwargs: dict[str, Any] = {k: v for k, v in offered.items() if k in accepted}
    if name != base:
        kwargs["cycles"] = cycles
    return create_schedule(name, **kwargs)
