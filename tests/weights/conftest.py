"""The importer tests' fixtures: a seeded random face network."""

from __future__ import annotations

import pytest
import torch

from siamese.encoders.face_resnet import FaceResNet


@pytest.fixture
def random_face_net() -> FaceResNet:
    """A seeded random ``FaceResNet`` with non-trivial scale layers."""
    torch.manual_seed(0)
    net = FaceResNet()
    with torch.no_grad():
        for m in net.modules():
            if hasattr(m, "weight") and m.__class__.__name__ == "ScaleLayer":
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return net.eval()
