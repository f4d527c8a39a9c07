"""Which triplets: hardness, schedules, the sequencer, offline and online miners.

* ``hardness``: the one definition (0 = the anchor's farthest negative, 1 = its nearest).
* ``schedules``: curves from training progress to target hardness (``create_schedule``).
* ``NegativeSearch``: faiss searches for candidate negatives, never an N x N matrix.
* ``HardnessSequencer``: a schedule -> ordered (anchor, positive, negative) triplets.
* ``OfflineMiner``: random, easiest, hardest, semi-hard triplets in the same format.
* ``create_online_miner``: in-batch batch-hard, batch-all, semi-hard (pytorch-metric-learning).
* ``ScheduledMiner``: in-batch, one triplet per anchor, its negative at the scheduled hardness.
* ``create_sequenced_generator``: any of the offline strategies as a training ``BatchGenerator``.
"""

from __future__ import annotations

import numpy as np

from siamese.errors import ConfigError
from siamese.mining.hardness import exhaustive_hardness, hardness_of, negative_range
from siamese.mining.mined_triplets import MinedTriplets
from siamese.mining.negative_search import NegativeSearch, SearchOptions
from siamese.mining.offline_miner import OFFLINE_RULES, OfflineMiner
from siamese.mining.online_miner import ONLINE_STRATEGIES, OnlineMiner, create_online_miner
from siamese.mining.scheduled_miner import ScheduledMiner
from siamese.mining.schedules import (
    Schedule,
    create_schedule,
    cyclic,
    list_schedules,
    schedule_from_settings,
)
from siamese.mining.sequenced_generator import SequencedTripletGenerator
from siamese.mining.sequencer import HardnessSequencer

SEQUENCED_STRATEGIES = (*list_schedules(), *OFFLINE_RULES, "semi_hard_offline")


def create_miner(
    strategy: str,
    *,
    seed: int = 0,
    reference_mask: np.ndarray | None = None,
    threshold: float = 0.5,
    growth: float = 10.0,
    midpoint: float = 0.5,
    cycles: int = 1,
    margin: float = 0.2,
    distance: str = "euclidean",
    allow_self_positive: bool = False,
    search: SearchOptions | None = None,
) -> HardnessSequencer | OfflineMiner:
    """A sequencer (schedule names) or an offline miner (rule names); arguments as below."""
    common = {
        "distance": distance,
        "reference_mask": reference_mask,
        "allow_self_positive": allow_self_positive,
        "search": search,
        "seed": seed,
    }
    rule = "semi_hard" if strategy == "semi_hard_offline" else strategy
    if rule in OFFLINE_RULES:
        return OfflineMiner(rule, margin=margin, **common)
    if strategy in list_schedules():
        sched = schedule_from_settings(
            strategy, threshold=threshold, growth=growth, midpoint=midpoint, cycles=cycles
        )
        return HardnessSequencer(sched, **common)
    raise ConfigError(
        f"unknown mining strategy {strategy!r}; sequenced strategies: "
        f"{', '.join(SEQUENCED_STRATEGIES)}; online miners: {', '.join(ONLINE_STRATEGIES)}"
    )


def create_sequenced_generator(
    strategy: str,
    labels: np.ndarray,
    *,
    triplets_per_batch: int,
    steps_per_epoch: int,
    epochs: int,
    seed: int,
    features: np.ndarray | None = None,
    reference_mask: np.ndarray | None = None,
    threshold: float = 0.5,
    growth: float = 10.0,
    midpoint: float = 0.5,
    cycles: int = 1,
    margin: float = 0.2,
    distance: str = "euclidean",
    allow_self_positive: bool = False,
) -> SequencedTripletGenerator:
    """The training generator for a sequenced (offline) mining strategy.

    Args:
        strategy: a schedule (``linear``, ``sine``, ``tanh``, ``logarithmic``, ``sigmoid``,
            ``constant``, ``cyclic_<curve>`` such as ``cyclic_sigmoid``) or an offline miner
            (``random``, ``easiest``, ``hardest``, ``semi_hard``; ``semi_hard_offline`` is an
            alias of ``semi_hard``, distinct from the online miner).
        labels: ``(N,)`` labels of the training items.
        triplets_per_batch: triplets in each batch.
        steps_per_epoch: batches per epoch.
        epochs: epochs the schedule spans (progress 1 is the last triplet of the last epoch).
        seed: drives the anchor order, positives and random candidates.
        features: ``(N, D)`` features to measure hardness in before the first ``refresh``
            (e.g. a frozen encoder's); ``None`` when the trainer refreshes from the model.
        reference_mask: ``(N,)`` booleans marking catalog reference items: anchors are
            references, positives photos of the same class.
        threshold: the hardness the schedule rises to (sigmoid carrying capacity; the value of
            ``constant``), in [0, 1].
        growth: growth rate of ``sigmoid``, ``tanh`` and ``logarithmic``.
        midpoint: progress in [0, 1] at which ``sigmoid`` is at half the threshold.
        cycles: repetitions of the curve for ``cyclic_*`` (one per slice of the sequence).
        margin: semi-hard band width for ``semi_hard``.
        distance: ``euclidean`` or ``cosine``: the distance hardness is measured with.
        allow_self_positive: single-item classes serve as anchor with themselves as positive.

    Raises:
        ConfigError: unknown strategy or a setting out of range.
        DataError: no class can serve as anchor, or bad features.
    """
    miner = create_miner(
        strategy,
        seed=seed,
        reference_mask=reference_mask,
        threshold=threshold,
        growth=growth,
        midpoint=midpoint,
        cycles=cycles,
        margin=margin,
        distance=distance,
        allow_self_positive=allow_self_positive,
    )
    return SequencedTripletGenerator(
        labels,
        miner,
        triplets_per_batch=triplets_per_batch,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        features=features,
    )


__all__ = [
    "OFFLINE_RULES",
    "ONLINE_STRATEGIES",
    "SEQUENCED_STRATEGIES",
    "HardnessSequencer",
    "MinedTriplets",
    "NegativeSearch",
    "OfflineMiner",
    "OnlineMiner",
    "Schedule",
    "ScheduledMiner",
    "SearchOptions",
    "SequencedTripletGenerator",
    "create_miner",
    "create_online_miner",
    "create_schedule",
    "create_sequenced_generator",
    "cyclic",
    "exhaustive_hardness",
    "hardness_of",
    "list_schedules",
    "negative_range",
    "schedule_from_settings",
]
