"""Tiny models for the gallery tests: no training needed for the mechanics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from siamese.encoders import create_encoder
from siamese.model import SiameseModel
from siamese.objectives.pair_head import PairHead

MLP_ARGS = {"input_shape": [8], "hidden": [16], "embedding_dim": 4}


def tiny_mlp(distance: str = "euclidean", head: bool = False) -> SiameseModel:
    """A seeded, untrained 8 -> 4 MLP model that records its item kind and shape."""
    torch.manual_seed(0)
    return SiameseModel(
        create_encoder("mlp", **MLP_ARGS),
        head=PairHead(4) if head else None,
        encoder_name="mlp",
        encoder_args=MLP_ARGS,
        distance=distance,
        info={"kind": "vector", "item_shape": [8]},
    )


def identity_model(dim: int) -> SiameseModel:
    """Embeddings = the vectors themselves: cluster geometry carries over exactly."""
    return SiameseModel(nn.Identity(), info={"kind": "vector", "item_shape": [dim]})


def clusters(n_classes: int, per_class: int, dim: int, seed: int, spread: float = 0.3):
    """Well-separated gaussian clusters: ``(n_classes * per_class, dim)`` items and class names."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 3.0
    labels = np.repeat(np.arange(n_classes), per_class)
    x = centres[labels] + spread * rng.normal(size=(len(labels), dim))
    return x.astype(np.float32), [f"s{seed}c{c}" for c in labels]


@pytest.fixture
def mlp_model() -> SiameseModel:
    return tiny_mlp()


@pytest.fixture
def vectors() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)


@pytest.fixture
def saved_model(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    tiny_mlp().save(folder)
    return folder


@pytest.fixture
def make_mlp():
    """``make_mlp(distance="euclidean", head=False)`` -> a tiny seeded model."""
    return tiny_mlp


@pytest.fixture
def make_clusters():
    """``make_clusters(n_classes, per_class, dim, seed)`` -> (items, class names)."""
    return clusters


@pytest.fixture
def make_identity():
    """``make_identity(dim)`` -> a model whose embeddings are its inputs."""
    return identity_model
