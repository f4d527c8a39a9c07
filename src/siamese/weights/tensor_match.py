"""Match a TensorFlow.js manifest's tensors to a PyTorch module's state dict (names, shapes,
layouts), naming the first tensor that does not fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamese.errors import ModelFileError
from siamese.weights.tfjs_manifest import read_tfjs_weights


def to_torch(key: str, value: np.ndarray) -> np.ndarray:
    """A TensorFlow tensor in PyTorch's layout: conv HWIO -> OIHW, dense (in, out) -> (out, in)."""
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)
    if value.ndim == 2:
        return value.T
    return value


def match_tensors(
    manifest: Path,
    wanted: dict[str, torch.Tensor],
    names: dict[str, str],
    what: str,
    expected: str,
) -> dict[str, torch.Tensor]:
    """The manifest's tensors as the state dict ``wanted`` (keys, shapes), renamed by ``names``
    (state-dict key -> face-api name) and converted to PyTorch's layouts.

    Raises:
        ModelFileError: the first tensor missing, unexpected or of another shape is named.
    """
    tensors = read_tfjs_weights(manifest)
    state: dict[str, torch.Tensor] = {}
    for key, ref in wanted.items():
        name = names[key]
        if name not in tensors:
            raise ModelFileError(
                f"{manifest}: tensor {name!r} is missing; the {what} needs "
                f"{len(wanted)} tensors (is this the {expected} manifest?)"
            )
        value = tensors.pop(name)
        depthwise = name.endswith("depthwise_filter")
        converted = value.transpose(2, 3, 0, 1) if depthwise else to_torch(key, value)
        if tuple(converted.shape) != tuple(ref.shape):
            want = tuple(ref.shape)
            want = (want[2], want[3], want[0], want[1]) if depthwise else tf_shape(want)
            raise ModelFileError(
                f"{manifest}: tensor {name!r} has shape {list(value.shape)}, "
                f"expected {list(want)} for face-api's {what}"
            )
        state[key] = torch.from_numpy(np.ascontiguousarray(converted, dtype=np.float32))
    if tensors:
        raise ModelFileError(
            f"{manifest}: unexpected tensor(s) {', '.join(map(repr, list(tensors)[:3]))}; "
            f"the {what} has no such layer (is this the {expected} manifest?)"
        )
    return state


def tf_shape(shape: Any) -> tuple[int, ...]:
    """A PyTorch-layout shape as the manifest writes it (TensorFlow's layout)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 4:
        return (shape[2], shape[3], shape[1], shape[0])
    if len(shape) == 2:
        return (shape[1], shape[0])
    return shape
