"""face-api's 68-point landmark model (``face_landmark_68_model``): its tensors as PyTorch's.

The files are a ``face_landmark_68_model-weights_manifest.json`` and its uint8-quantised ``.bin``
shard, read by ``tfjs_manifest``; every tensor is checked against ``FaceLandmark68Net`` (names,
shapes) and converted: conv filters HWIO -> OIHW, depthwise filters ``(3, 3, C, 1)`` ->
``(C, 1, 3, 3)``, the dense matrix ``(in, out)`` -> ``(out, in)``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from siamese.encoders.face_landmarks import FaceLandmark68Net
from siamese.weights.tensor_match import match_tensors

MANIFEST = "face_landmark_68_model-weights_manifest.json"
SOURCE = "@vladmandic/face-api face_landmark_68_model (68-point face landmarks), MIT licence"
_LEAF = {
    ("conv", "weight"): "filters",
    ("conv", "bias"): "bias",
    ("depthwise", "weight"): "depthwise_filter",
    ("pointwise", "weight"): "pointwise_filter",
    ("pointwise", "bias"): "bias",
}


def tf_name(key: str) -> str:
    """face-api's tensor name of a ``FaceLandmark68Net`` state-dict key
    (``dense1.conv2.depthwise.weight`` -> ``dense1/conv2/depthwise_filter``)."""
    if key.startswith("fc."):
        return "fc/weights" if key == "fc.weight" else "fc/bias"
    block, conv, layer, kind = key.split(".")
    return f"{block}/{conv}/{_LEAF[(layer, kind)]}"


def landmark_state_dict(manifest: str | Path) -> dict[str, torch.Tensor]:
    """The ``FaceLandmark68Net`` state dict held by face-api's landmark model files.

    Raises:
        ModelFileError: unreadable files, or tensors that do not match the architecture (the
            first missing, unexpected or differently shaped one is named).
    """
    with torch.device("meta"):
        wanted = FaceLandmark68Net().state_dict()
    names = {key: tf_name(key) for key in wanted}
    return match_tensors(Path(manifest), wanted, names, "landmark model", MANIFEST)
