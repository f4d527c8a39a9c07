"""A built-in simulator of network link measurements under normal and faulty conditions.

Each sample is a window of ``length`` time steps (15-minute intervals by default, so 96 steps are
one day) with five channels:

====================  ===========================================
``throughput_in``     Mbit/s received
``throughput_out``    Mbit/s sent
``packets``           thousands of packets per second
``latency``           round-trip latency in ms
``loss_rate``         fraction of packets lost, in [0, 1]
====================  ===========================================

Every sample draws its own link capacity, load level, daily phase and amplitude, noise, onset
time and fault severity from a seeded generator, so no two samples are alike and patterns overlap in
parts (a flapping link and a blocked link both carry near-zero traffic at times; a surge and a
capacity limit both run the link hot; loss bursts and slow degradation both lose packets).
"""

from __future__ import annotations

import numpy as np

from siamese.data._sources import register_source
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError

CHANNELS = ("throughput_in", "throughput_out", "packets", "latency", "loss_rate")
PATTERNS = (
    "normal",
    "blocked",
    "capacity_limit",
    "loss_bursts",
    "latency_spikes",
    "flapping",
    "surge",
    "degradation",
)


def _baseline(rng: np.random.Generator, length: int) -> dict[str, np.ndarray | float]:
    t = np.arange(length, dtype=np.float64)
    level = rng.uniform(200.0, 600.0)  # mean inbound Mbit/s
    capacity = level * rng.uniform(1.6, 2.2)
    amplitude = rng.uniform(0.15, 0.35)
    phase = rng.uniform(0, 2 * np.pi)
    period = length * rng.uniform(0.8, 1.2)
    daily = 1.0 + amplitude * np.sin(2 * np.pi * t / period + phase)
    wander = np.cumsum(rng.normal(0, 0.01, length))  # slow random drift
    noise = rng.uniform(0.02, 0.06)
    demand = level * daily * (1.0 + wander) * (1.0 + rng.normal(0, noise, length))
    return {
        "t": t,
        "demand": np.clip(demand, 0.0, None),
        "capacity": capacity,
        "out_ratio": rng.uniform(0.25, 0.8),
        "packet_kb": rng.uniform(0.6, 1.3),
        "base_latency": rng.uniform(4.0, 40.0),
        "base_loss": rng.uniform(0.0, 0.002),
        "noise": noise,
    }


def _measure(
    rng: np.random.Generator,
    b: dict,
    inbound: np.ndarray,
    extra_latency: np.ndarray | float = 0.0,
    extra_loss: np.ndarray | float = 0.0,
    capacity: float | None = None,
) -> np.ndarray:
    """Turn carried inbound traffic into the five measured channels."""
    length = len(inbound)
    cap = b["capacity"] if capacity is None else capacity
    util = np.clip(inbound / cap, 0.0, 1.0)
    outbound = inbound * b["out_ratio"] * (1.0 + rng.normal(0, b["noise"], length))
    packets = (inbound + outbound) / (8.0 * b["packet_kb"]) * (1.0 + rng.normal(0, 0.03, length))
    queueing = 1.0 + 0.6 * util**4 / np.maximum(1.0 - 0.9 * util, 0.05)
    latency = b["base_latency"] * queueing * (1.0 + rng.normal(0, 0.05, length)) + extra_latency
    loss = b["base_loss"] + 0.02 * np.clip(util - 0.9, 0, None) + extra_loss
    loss = loss + np.abs(rng.normal(0, 0.0005, length))
    out = np.stack(
        [
            np.clip(inbound, 0, None),
            np.clip(outbound, 0, None),
            np.clip(packets, 0, None),
            np.clip(latency, 0.1, None),
            np.clip(loss, 0.0, 1.0),
        ],
        axis=1,
    )
    return out.astype(np.float32)


def _onset(rng: np.random.Generator, length: int) -> int:
    return int(rng.integers(int(0.15 * length), int(0.6 * length)))


def _simulate_one(pattern: str, rng: np.random.Generator, length: int) -> np.ndarray:
    b = _baseline(rng, length)
    t, demand = b["t"], b["demand"]
    t0 = _onset(rng, length)
    after = (t >= t0).astype(np.float64)
    if pattern == "normal":
        return _measure(rng, b, np.minimum(demand, b["capacity"]))
    if pattern == "blocked":
        residual = rng.uniform(0.0, 0.05)
        ramp = np.clip((t - t0) / rng.uniform(1, 4), 0, 1)
        carried = demand * (1 - ramp * (1 - residual))
        loss = ramp * rng.uniform(0.5, 1.0)
        return _measure(rng, b, carried, extra_loss=loss)
    if pattern == "capacity_limit":
        cap = float(np.quantile(demand, rng.uniform(0.15, 0.45)))
        surge = 1.0 + after * rng.uniform(0.2, 0.6)
        carried = np.minimum(demand * surge, cap * (1 + rng.normal(0, 0.005, length)))
        return _measure(rng, b, carried, capacity=cap * 1.02)
    if pattern == "loss_bursts":
        loss = np.zeros(length)
        carried = demand.copy()
        for _ in range(int(rng.integers(2, 6))):
            start = int(rng.integers(0, length - 2))
            dur = int(rng.integers(2, 7))
            sev = rng.uniform(0.04, 0.3)
            loss[start : start + dur] += sev
            carried[start : start + dur] *= 1 - sev
        return _measure(rng, b, np.minimum(carried, b["capacity"]), extra_loss=loss)
    if pattern == "latency_spikes":
        lat = np.zeros(length)
        for _ in range(int(rng.integers(2, 6))):
            start = int(rng.integers(0, length - 1))
            dur = int(rng.integers(1, 5))
            lat[start : start + dur] += b["base_latency"] * rng.uniform(3.0, 12.0)
        return _measure(rng, b, np.minimum(demand, b["capacity"]), extra_latency=lat)
    if pattern == "flapping":
        # A link that repeatedly goes down and comes back: at least ~4 outages in the window.
        t0 = int(rng.integers(int(0.05 * length), int(0.35 * length)))
        period = rng.uniform(4.0, 10.0)
        duty = rng.uniform(0.4, 0.65)
        phase = ((t - t0) / period) % 1.0
        down = (t >= t0) * (phase > duty)
        carried = demand * (1 - down * (1 - rng.uniform(0.0, 0.05)))
        return _measure(rng, b, carried, extra_loss=down * rng.uniform(0.3, 0.9))
    if pattern == "surge":
        # Demand jumps by a factor and pushes the link towards (not beyond) its capacity, so
        # queueing latency rises with it.
        factor = rng.uniform(2.5, 3.5)
        rise = rng.uniform(1.0, 6.0)
        dur = rng.uniform(0.3, 0.6) * length
        bump = np.clip((t - t0) / rise, 0, 1) * (t < t0 + dur)
        surged = demand * (1 + bump * (factor - 1))
        b["capacity"] = max(b["capacity"], float(surged.max()) * rng.uniform(1.02, 1.25))
        return _measure(rng, b, surged)
    if pattern == "degradation":
        span = length - t0
        frac = np.clip((t - t0) / span, 0, 1)
        loss = frac * rng.uniform(0.05, 0.2)
        lat = frac * b["base_latency"] * rng.uniform(1.5, 4.0)
        carried = demand * (1 - frac * rng.uniform(0.25, 0.5))
        return _measure(
            rng, b, np.minimum(carried, b["capacity"]), extra_latency=lat, extra_loss=loss
        )
    raise ConfigError(
        f"traffic pattern: unknown {pattern!r}; valid patterns: {', '.join(PATTERNS)}"
    )


@register_source("traffic")
def simulate_traffic(
    n_per_pattern: int = 100,
    patterns: list[str] | None = None,
    length: int = 96,
    seed: int = 0,
    unseen: list[str] | None = None,
    test_per_pattern: int = 0,
) -> LabeledDataset:
    """Simulate ``n_per_pattern`` windows of each traffic pattern.

    Args:
        n_per_pattern: samples per pattern.
        patterns: which of ``PATTERNS`` to draw (default: all 8), in this label order.
        length: time steps per window (at least 16).
        seed: the generator seed; the same seed gives the same data.
        unseen: patterns held out of training: their items get ``split = "test"`` and the
            others ``"train"`` (use with ``data.split = "protocol"``); None sets no split.
        test_per_pattern: held-out windows of every pattern, drawn after its ``n_per_pattern``
            training windows (which stay the same), with ``split = "test"``: a classification
            protocol where test shares the training patterns (with ``data.split = "protocol"``).

    Returns:
        A ``LabeledDataset`` of kind ``"sequence"``, items ``(N, length, 5)`` float32.
    """
    patterns = list(PATTERNS if patterns is None else patterns)
    unknown = [p for p in patterns if p not in PATTERNS]
    if unknown:
        raise ConfigError(
            f"traffic patterns: unknown {', '.join(map(repr, unknown))}; valid: {', '.join(PATTERNS)}"
        )
    unseen = list(unseen or [])
    if any(p not in patterns for p in unseen):
        raise ConfigError(
            f"traffic unseen: each must be one of the drawn patterns {patterns}, got {unseen}"
        )
    if length < 16:
        raise ConfigError(f"traffic length: expected at least 16 time steps, got {length}")
    if n_per_pattern < 1:
        raise ConfigError(f"traffic n_per_pattern: expected at least 1, got {n_per_pattern}")
    if test_per_pattern < 0:
        raise ConfigError(
            f"traffic test_per_pattern: expected 0 or more held-out windows, got {test_per_pattern}"
        )
    items, labels, sources, held = [], [], [], []
    for label, pattern in enumerate(patterns):
        # One child generator per pattern: adding patterns does not change the others' samples.
        rng = np.random.default_rng([seed, PATTERNS.index(pattern)])
        for i in range(n_per_pattern + test_per_pattern):
            items.append(_simulate_one(pattern, rng, length))
            labels.append(label)
            sources.append(f"traffic:{pattern}:seed={seed}:{i}")
            held.append(pattern in unseen or i >= n_per_pattern)
    protocol = [f"patterns {', '.join(unseen)} never seen in training"] if unseen else []
    if test_per_pattern:
        protocol.append(f"{test_per_pattern} held-out windows of each pattern")
    return LabeledDataset(
        items=np.stack(items),
        labels=np.array(labels),
        class_names=patterns,
        sources=sources,
        kind="sequence",
        split=np.where(held, "test", "train") if unseen or test_per_pattern else None,
        meta={
            "channels": list(CHANNELS),
            "generator": "siamese.data.traffic",
            "seed": seed,
            "protocol": "; ".join(protocol) or "none",
        },
    )
