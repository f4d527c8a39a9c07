"""The training run's sequenced (offline) miner measures hardness in the objective's distance."""

from __future__ import annotations

import numpy as np
import pytest

from siamese.data import LabeledDataset
from siamese.training.config import load_config
from siamese.training.run import build_generator


@pytest.mark.parametrize(
    ("distance", "expected"),
    [("cosine", "cosine"), ("euclidean", "euclidean"), ("squared_euclidean", "euclidean")],
)
def test_sequenced_miner_uses_the_objectives_distance(distance: str, expected: str):
    cfg = load_config(
        None,
        [
            'mining.strategy="sigmoid"',
            'sampling.kind="triplets"',
            "sampling.batch_size=4",
            f'objective.distance="{distance}"',
        ],
    )
    labels = np.repeat(np.arange(4), 3)
    data = LabeledDataset(
        np.zeros((12, 2), np.float32), labels, list("abcd"), list(map(str, labels))
    )
    generator = build_generator(cfg, data, epochs=1, steps=2)
    assert generator.miner.distance == expected
