"""Import face-api's face recogniser (``face_recognition_model``) into a siamese model folder.

@vladmandic/face-api ships dlib's ResNet face embedder as TensorFlow.js weights: a
``face_recognition_model-weights_manifest.json`` and its ``.bin`` shard, uint8-quantised. This
reads them (``tfjs_manifest``), checks every tensor against the ``face_resnet`` encoder (names,
shapes: a tensor missing, extra or of another shape is named), converts TensorFlow's layouts to
PyTorch's (conv filters HWIO -> OIHW, the dense matrix (in, out) -> (out, in)) and saves an
ordinary model folder (``model.safetensors`` + ``model.json``) that ``enroll``, ``identify``,
``verify``, ``evaluate``, ``export``, ``serve`` and training (``model.init_from``) take.

The model's images are 150x150 RGB in [0, 255]; the encoder subtracts face-api's mean colour and
divides by 255, as ``FaceRecognitionNet.forwardInput`` does. Pairs are compared by euclidean
distance, as dlib and face-api do (face-api's "same person" threshold is 0.6).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamese.encoders.face_resnet import MEAN_RGB, PIXEL_SCALE, FaceResNet
from siamese.errors import ConfigError, ModelFileError
from siamese.model import SiameseModel
from siamese.weights.tfjs_manifest import read_tfjs_weights

MANIFEST = "face_recognition_model-weights_manifest.json"
SIZE = 150
SOURCE = "@vladmandic/face-api face_recognition_model (dlib's ResNet face embedder), MIT licence"
PROTOCOL = (
    "a network trained by dlib's author on outside labelled face data (about 3 million faces of "
    "about 7,500 people, as he describes it); not trained by this library"
)


def tf_name(key: str) -> str:
    """face-api's tensor name of a ``FaceResNet`` state-dict key (``conv32_1.conv1.conv.weight``
    -> ``conv32_1/conv1/conv/filters``)."""
    if key == "fc.weight":
        return "fc"
    prefix, layer, kind = key.rsplit(".", 2)
    leaf = {("conv", "weight"): "filters", ("conv", "bias"): "bias",
            ("scale", "weight"): "weights", ("scale", "bias"): "biases"}[(layer, kind)]  # fmt: skip
    return f"{prefix.replace('.', '/')}/{layer}/{leaf}"


def to_torch(key: str, value: np.ndarray) -> np.ndarray:
    """A TensorFlow tensor in PyTorch's layout: conv HWIO -> OIHW, dense (in, out) -> (out, in)."""
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)
    if value.ndim == 2:
        return value.T
    return value


def manifest_path(path: str | Path) -> Path:
    """The manifest file: ``path`` itself, or ``MANIFEST`` inside the folder ``path``.

    Raises:
        ModelFileError: no such file or folder, or a folder without the manifest.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
        if not path.is_file():
            raise ModelFileError(
                f"{path}: missing; expected face-api's face recogniser manifest in that folder "
                "(from the npm package @vladmandic/face-api, folder model/)"
            )
    elif not path.is_file():
        raise ModelFileError(
            f"{path}: no such file or folder; expected {MANIFEST} or the folder holding it"
        )
    return path


def face_api_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``FaceResNet`` state dict held by face-api's face recogniser files.

    Raises:
        ModelFileError: unreadable files (``read_tfjs_weights``), or tensors that do not match
            the architecture: the first missing, unexpected or differently shaped one is named.
    """
    manifest = manifest_path(path)
    tensors = read_tfjs_weights(manifest)
    with torch.device("meta"):
        wanted = FaceResNet().state_dict()
    state: dict[str, torch.Tensor] = {}
    for key, ref in wanted.items():
        name = tf_name(key)
        if name not in tensors:
            raise ModelFileError(
                f"{manifest}: tensor {name!r} is missing; the face recogniser needs "
                f"{len(wanted)} tensors (is this the face_recognition_model manifest?)"
            )
        value = to_torch(key, tensors.pop(name))
        if tuple(value.shape) != tuple(ref.shape):
            raise ModelFileError(
                f"{manifest}: tensor {name!r} has shape {list(tf_shape(value.shape))}, "
                f"expected {list(tf_shape(ref.shape))} for face-api's face recogniser"
            )
        state[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    if tensors:
        raise ModelFileError(
            f"{manifest}: unexpected tensor(s) {', '.join(map(repr, list(tensors)[:3]))}; "
            "the face recogniser has no such layer (is this the face_recognition_model manifest?)"
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


def import_face_api(
    path: str | Path,
    out: str | Path,
    *,
    crop: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Convert face-api's face recogniser into a model folder.

    Args:
        path: ``face_recognition_model-weights_manifest.json`` or the folder holding it (its
            ``.bin`` shard beside it).
        out: the model folder to write (``model.safetensors`` + ``model.json``).
        crop: a central square of this many pixels is cut from every image file before it is
            resized to 150x150 (``info.image.center_crop``; e.g. 110 for LFW's 250x250
            deep-funneled images); None: the whole image.
        overwrite: replace an existing model folder.

    Returns:
        A summary: the folder, tensor and parameter counts, the manifest's SHA-256.

    Raises:
        ModelFileError: unreadable or mismatched weight files.
        ConfigError: ``out`` exists (without ``overwrite``) or a bad ``crop``.
    """
    out = Path(out)
    if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
        raise ConfigError(f"--crop: expected a positive number of pixels, got {crop!r}")
    if out.exists() and not overwrite:
        raise ConfigError(f"{out}: already exists; pass --overwrite to replace it, or pick --out")
    manifest = manifest_path(path)
    state = face_api_state_dict(manifest)
    encoder = FaceResNet()
    encoder.load_state_dict(state, strict=True)
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    info = {
        "kind": "image",
        "item_shape": [3, SIZE, SIZE],
        "item_dtype": "uint8",
        "image": {
            "invert": False,
            "ink_crop": None,
            "center_crop": None if crop is None else [crop, crop],
        },
        "pretrained": {
            "source": SOURCE,
            "manifest": manifest.name,
            "manifest_sha256": digest,
            "protocol": PROTOCOL,
            "preprocessing": (
                f"RGB resized to {SIZE}x{SIZE}; minus mean {list(MEAN_RGB)}; divided by "
                f"{PIXEL_SCALE:g}"
            ),
        },
    }
    model = SiameseModel(
        encoder,
        encoder_name="face_resnet",
        encoder_args={"input_shape": [3, SIZE, SIZE], "embedding_dim": 128},
        distance="euclidean",
        info=info,
    )
    _save_folder(model, out, overwrite)
    return {
        "out": str(out),
        "tensors": len(state),
        "parameters": int(sum(v.numel() for v in state.values())),
        "manifest": str(manifest),
        "manifest_sha256": digest,
        "center_crop": crop,
    }


def _save_folder(model: SiameseModel, out: Path, overwrite: bool) -> None:
    """Write the model into a new folder beside ``out``, check it loads, then move it in place:
    ``out`` is the old folder or the new one, never a half-written one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # a folder as mkdir makes it, not mkdtemp's private one
    try:
        model.save(tmp)
        SiameseModel.load(tmp)  # what we wrote reads back
        if out.exists() and overwrite:
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
