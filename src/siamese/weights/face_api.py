"""Import face-api's face recogniser (``face_recognition_model``) into a siamese model folder.

@vladmandic/face-api ships dlib's ResNet face embedder as TensorFlow.js weights: a
``face_recognition_model-weights_manifest.json`` and its ``.bin`` shard, uint8-quantised. This
reads them (``tfjs_manifest``), checks every tensor against the ``face_resnet`` encoder (names,
shapes: a tensor missing, extra or of another shape is named), converts TensorFlow's layouts to
PyTorch's (conv filters HWIO -> OIHW, the dense matrix (in, out) -> (out, in)) and saves an
ordinary model folder (``model.safetensors`` + ``model.json``) that ``enroll``, ``identify``,
``verify``, ``evaluate``, ``export``, ``serve`` and training (``model.init_from``) take.

The model's images are 150x150 RGB in [0, 255]; the encoder subtracts face-api's mean colour and
divides by 255, as ``FaceRecognitionNet.forwardInput`` does.

When face-api's landmark model (``face_landmark_68_model``, ``siamese.weights.face_landmarks``) is
beside the recogniser, it is imported too and the folder's encoder is ``face_aligned``: 68
landmarks, dlib's 150x150 face chip, then the embedder, inside the model, so every command and
the service align faces alike (``align=False`` / ``--no-align``: the plain ``face_resnet``). Pairs are compared by euclidean
distance, as dlib and face-api do (face-api's "same person" threshold is 0.6).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from siamese.encoders.face_aligned import AlignedFaceNet
from siamese.encoders.face_resnet import MEAN_RGB, PIXEL_SCALE, FaceResNet
from siamese.errors import ConfigError, ModelFileError
from siamese.model import SiameseModel
from siamese.weights.face_landmarks import MANIFEST as LANDMARKS
from siamese.weights.face_landmarks import SOURCE as LANDMARK_SOURCE
from siamese.weights.face_landmarks import landmark_state_dict
from siamese.weights.tensor_match import match_tensors

MANIFEST = "face_recognition_model-weights_manifest.json"
SIZE = 150
#: dlib's chip padding for its face recogniser (``get_face_chip_details(shape, 150, 0.25)``).
PADDING = 0.25
#: The central fraction of the image the landmark model sees by default (see ``face_aligned``).
LANDMARK_BOX = 0.9
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
    with torch.device("meta"):
        wanted = FaceResNet().state_dict()
    names = {key: tf_name(key) for key in wanted}
    return match_tensors(manifest_path(path), wanted, names, "face recogniser", MANIFEST)


def import_face_api(
    path: str | Path,
    out: str | Path,
    *,
    crop: int | None = None,
    align: bool | None = None,
    points: str = "68",
    landmark_box: float = LANDMARK_BOX,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Convert face-api's face recogniser (and its landmark model: aligned faces) into a folder.

    Args:
        path: ``face_recognition_model-weights_manifest.json`` or the folder holding it (its
            ``.bin`` shard beside it).
        out: the model folder to write (``model.safetensors`` + ``model.json``).
        crop: a central square of this many pixels is cut from every image file before it is
            resized to 150x150 (``info.image.center_crop``; e.g. 110 for LFW's 150x150
            deep-funneled images without alignment); None: the whole image.
        align: None: align faces when the landmark model
            (``face_landmark_68_model-weights_manifest.json``) is beside the recogniser's
            manifest; True: it must be; False: no alignment (the plain ``face_resnet``).
        points: ``"68"`` or ``"5"``: dlib's chip variant (``siamese.data.face_align``).
        landmark_box: the central square the landmark model sees, a fraction of the side.
        overwrite: replace an existing model folder.

    Returns:
        A summary: the folder, tensor and parameter counts, the manifests' SHA-256, whether
        faces are aligned.

    Raises:
        ModelFileError: unreadable or mismatched weight files (or, with ``align=True``, no
            landmark model).
        ConfigError: ``out`` exists (without ``overwrite``), a bad ``crop`` or alignment option.
    """
    out = Path(out)
    if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
        raise ConfigError(f"--crop: expected a positive number of pixels, got {crop!r}")
    if out.exists() and not overwrite:
        raise ConfigError(f"{out}: already exists; pass --overwrite to replace it, or pick --out")
    manifest = manifest_path(path)
    state = face_api_state_dict(manifest)
    landmarks = manifest.parent / LANDMARKS
    if align and not landmarks.is_file():
        raise ModelFileError(
            f"{landmarks}: missing; --align needs face-api's landmark model beside the face "
            "recogniser (from the npm package @vladmandic/face-api, folder model/), or pass "
            "--no-align"
        )
    aligned = landmarks.is_file() if align is None else bool(align)
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    pretrained: dict[str, Any] = {
        "source": SOURCE,
        "manifest": manifest.name,
        "manifest_sha256": digest,
        "protocol": PROTOCOL,
        "preprocessing": (
            f"RGB resized to {SIZE}x{SIZE}; minus mean {list(MEAN_RGB)}; divided by {PIXEL_SCALE:g}"
        ),
    }
    args: dict[str, Any] = {"input_shape": [3, SIZE, SIZE], "embedding_dim": 128}
    if aligned:
        args |= {"points": str(points), "padding": PADDING, "landmark_box": landmark_box}
        encoder: torch.nn.Module = AlignedFaceNet(**args)
        marks = landmark_state_dict(landmarks)
        encoder.landmarks.load_state_dict(marks, strict=True)
        encoder.embedder.load_state_dict(state, strict=True)
        pretrained |= {
            "landmark_source": LANDMARK_SOURCE,
            "landmark_manifest": landmarks.name,
            "landmark_manifest_sha256": hashlib.sha256(landmarks.read_bytes()).hexdigest(),
            "alignment": (
                f"68 landmarks found on the central {landmark_box:g} of the image (resized to "
                f"112x112); the {SIZE}x{SIZE} chip of dlib's get_face_chip_details ({points}-point "
                f"variant, padding {PADDING:g}) cut from the image; where the points fall "
                "outside the image, the central 110/150 square instead"
            ),
        }
    else:
        encoder = FaceResNet()
        encoder.load_state_dict(state, strict=True)
        marks = {}
    info = {
        "kind": "image",
        "item_shape": [3, SIZE, SIZE],
        "item_dtype": "uint8",
        "image": {
            "invert": False,
            "ink_crop": None,
            "center_crop": None if crop is None else [crop, crop],
        },
        "pretrained": pretrained,
    }
    model = SiameseModel(
        encoder,
        encoder_name="face_aligned" if aligned else "face_resnet",
        encoder_args=args,
        distance="euclidean",
        info=info,
    )
    _save_folder(model, out, overwrite)
    return {
        "out": str(out),
        "tensors": len(state) + len(marks),
        "parameters": int(sum(v.numel() for v in (*state.values(), *marks.values()))),
        "manifest": str(manifest),
        "manifest_sha256": digest,
        "aligned": aligned,
        **({"landmark_manifest": str(landmarks), "points": str(points)} if aligned else {}),
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
