"""The shared tower: encoders created by name."""

from siamese.encoders import (  # noqa: F401  (registers them)
    conv1d,
    conv4,
    face_aligned,
    face_resnet,
    hf_vision,
    koch_cnn,
    lstm,
    mlp,
)
from siamese.encoders._layers import OutputActivation
from siamese.encoders._registry import (
    create_encoder,
    encoder_doc,
    encoder_options,
    list_encoders,
    register_encoder,
)
from siamese.encoders.conv1d import Conv1dEncoder
from siamese.encoders.conv4 import Conv4
from siamese.encoders.face_resnet import FaceResNet
from siamese.encoders.koch_cnn import KochCNN
from siamese.encoders.lstm import LSTMEncoder
from siamese.encoders.mlp import MLP

__all__ = [
    "MLP",
    "Conv1dEncoder",
    "Conv4",
    "FaceResNet",
    "KochCNN",
    "LSTMEncoder",
    "OutputActivation",
    "create_encoder",
    "encoder_doc",
    "encoder_options",
    "list_encoders",
    "register_encoder",
]
