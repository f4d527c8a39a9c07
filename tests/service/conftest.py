"""A tiny image gallery for the service tests: an untrained conv4 on 16 x 16 grey images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from siamese.encoders import create_encoder
from siamese.gallery import Gallery
from siamese.model import SiameseModel

ARGS = {"input_shape": [1, 16, 16], "channels": 4, "embedding_dim": 8}


def image_gallery(directory: Path, labels: list[str]) -> Path:
    """Save a seeded gallery of ``len(labels)`` random images into ``directory``."""
    torch.manual_seed(0)
    model = SiameseModel(
        create_encoder("conv4", **ARGS),
        encoder_name="conv4",
        encoder_args=ARGS,
        info={"kind": "image", "item_shape": [1, 16, 16], "item_dtype": "uint8"},
    )
    x = np.random.default_rng(0).integers(0, 256, (len(labels), 1, 16, 16), dtype=np.uint8)
    Gallery(model, threshold=1e6).fit(x, labels).save(directory)
    return directory


@pytest.fixture(scope="session")
def make_image_gallery():
    """``make_image_gallery(directory, labels)`` -> the saved gallery folder."""
    return image_gallery
