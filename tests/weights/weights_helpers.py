"""For the importer tests: TensorFlow.js weight manifests written as the tfjs converter writes
them, the CLI run in-process, and a face model folder taken through enroll / identify / verify."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from siamese.cli.app import main
from siamese.encoders.face_resnet import FaceResNet
from siamese.weights.face_api import MANIFEST, tf_name


def write_manifest(
    folder: Path,
    tensors: dict[str, np.ndarray],
    *,
    quantise: bool = False,
    name: str = MANIFEST,
    shards: int = 1,
) -> Path:
    """``tensors`` (TF layout) as a manifest + ``shards`` .bin files; ``quantise``: uint8 with
    scale and min per tensor, as the tfjs converter writes face-api's weights."""
    specs, chunks = [], []
    for key, value in tensors.items():
        value = np.asarray(value, dtype=np.float32)
        spec = {"name": key, "shape": list(value.shape), "dtype": "float32"}
        if quantise:
            lo, hi = float(value.min()), float(value.max())
            scale = (hi - lo) / 255 or 1.0
            spec["quantization"] = {"dtype": "uint8", "scale": scale, "min": lo}
            chunks.append(np.round((value - lo) / scale).astype(np.uint8).tobytes())
        else:
            chunks.append(value.astype("<f4").tobytes())
        specs.append(spec)
    data = b"".join(chunks)
    cut = np.linspace(0, len(data), shards + 1).astype(int)
    paths = []
    for k in range(shards):
        paths.append(f"{Path(name).stem}-shard{k + 1}.bin")
        (folder / paths[-1]).write_bytes(data[cut[k] : cut[k + 1]])
    (folder / name).write_text(json.dumps([{"paths": paths, "weights": specs}]))
    return folder / name


def tf_tensors(encoder: FaceResNet) -> dict[str, np.ndarray]:
    """A ``FaceResNet``'s weights under face-api's names, in TensorFlow's layouts."""
    out = {}
    for key, value in encoder.state_dict().items():
        v = value.numpy()
        out[tf_name(key)] = v.transpose(2, 3, 1, 0) if v.ndim == 4 else (v.T if v.ndim == 2 else v)
    return out


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``siamese ARGS`` in-process: ``(exit code, stdout, stderr)``."""
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def tf_landmark_tensors(net) -> dict[str, np.ndarray]:
    """A ``FaceLandmark68Net``'s weights under face-api's names, in TensorFlow's layouts."""
    from siamese.weights.face_landmarks import tf_name as landmark_name

    out = {}
    for key, value in net.state_dict().items():
        v = value.numpy()
        if key.endswith("depthwise.weight"):  # (C, 1, 3, 3) -> (3, 3, C, 1)
            v = v.transpose(2, 3, 0, 1)
        elif v.ndim == 4:
            v = v.transpose(2, 3, 1, 0)
        elif v.ndim == 2:
            v = v.T
        out[landmark_name(key)] = v
    return out


def enroll_identify_verify(capsys, model_dir: Path, lfw: Path, tmp_path: Path) -> None:
    """One LFW photo each of four people enrolled from a folder with ``model_dir``; their second
    photos identified; one verified against its enrolled photo (threshold 0.6, dlib's)."""
    people = ["George_W_Bush", "Colin_Powell", "Tony_Blair", "Serena_Williams"]
    enrolled, queries = tmp_path / "people", {}
    for name in people:
        files = sorted((lfw / name).glob("*.jpg"))[:2]
        (enrolled / name).mkdir(parents=True)
        shutil.copy(files[0], enrolled / name / files[0].name)  # one photo per person
        queries[name] = files[1]
    gallery = tmp_path / "gallery"
    code, _, err = run_cli(capsys, "enroll", model_dir, "--folder", enrolled, "--out", gallery,
                           "--threshold", "0.6")  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(capsys, "identify", gallery, *queries.values(), "--json")
    assert code == 0, err
    answers = json.loads(out)
    top = [a["matches"][0]["label"] if a.get("matches") else a.get("label") for a in answers]
    assert top == people, answers
    first = next((enrolled / "Tony_Blair").iterdir())
    code, out, err = run_cli(capsys, "verify", model_dir, queries["Tony_Blair"], first,
                             "--threshold", "0.6", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["same"] is True, out + err
