"""Regenerate ``tests/fixtures/face_api/{reference,landmarks}.json``: face-api's own outputs, on tfjs.

The inputs are prepared by this library exactly as ``siamese identify`` prepares image files for
an imported face-api model (``siamese.gallery.inputs.load_file``): four LFW images (150x150 RGB,
used as they are) and one seeded noise image. Their pixels go to ``tools/face_api_reference.cjs``,
which runs @vladmandic/face-api's FaceRecognitionNet on @tensorflow/tfjs in node; the descriptors
it returns, with a SHA-256 of each input's pixels, are the fixture that
``tests/weights/test_face_api_parity.py`` compares the PyTorch port with (max abs diff <= 1e-3).

``landmarks.json``: the landmark model (FaceLandmark68Net) on the central 112x112 pixels of the
same four LFW images (an exact crop: the network's input size, nothing resampled) and a seeded
112x112 noise image; its raw output, the 68 points as fractions of the input's side
(``tests/weights/test_face_landmarks_parity.py``).

Usage:
    mkdir -p /tmp/tfjs && (cd /tmp/tfjs && npm install @tensorflow/tfjs@4.22.0 @vladmandic/face-api@1.7.15)
    python tools/face_api_reference.py --node-modules /tmp/tfjs/node_modules
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
FIXTURE = ROOT / "tests" / "fixtures" / "face_api" / "reference.json"
LANDMARKS = FIXTURE.with_name("landmarks.json")
LANDMARK_SIDE = 112
#: LFW images (relative to the shared data folder): two of one person, two others.
IMAGES = [
    "lfw/images/George_W_Bush/George_W_Bush_0007.jpg",
    "lfw/images/George_W_Bush/George_W_Bush_0016.jpg",
    "lfw/images/Colin_Powell/Colin_Powell_0040.jpg",
    "lfw/images/Serena_Williams/Serena_Williams_0001.jpg",
]
NOISE_SEED = 0


def noise_image(seed: int = NOISE_SEED, side: int = 150) -> np.ndarray:
    """A ``(3, side, side)`` uint8 image of seeded uniform noise (no data file needed)."""
    return np.random.default_rng(seed).integers(0, 256, size=(3, side, side), dtype=np.uint8)


def landmark_inputs(data: Path) -> list[np.ndarray]:
    """The central 112x112 pixels of the LFW images (RGB, ``(3, 112, 112)``), then noise."""
    from PIL import Image

    out = []
    for rel in IMAGES:
        im = np.asarray(Image.open(data / rel).convert("RGB")).transpose(2, 0, 1)  # (3, H, W)
        top, left = (im.shape[1] - LANDMARK_SIDE) // 2, (im.shape[2] - LANDMARK_SIDE) // 2
        out.append(
            np.ascontiguousarray(im[:, top : top + LANDMARK_SIDE, left : left + LANDMARK_SIDE])
        )
    return out + [noise_image(side=LANDMARK_SIDE)]


def pixel_sha256(item: np.ndarray) -> str:
    """SHA-256 of a ``(3, 150, 150)`` uint8 item's bytes (C-order)."""
    return hashlib.sha256(np.ascontiguousarray(item, dtype=np.uint8).tobytes()).hexdigest()


def prepared_inputs(model_dir: Path, data: Path) -> list[np.ndarray]:
    """The LFW images as ``identify`` prepares them for the model, then the noise image."""
    from siamese.gallery.inputs import ItemSpec, load_file
    from siamese.model import SiameseModel

    spec = ItemSpec.of(SiameseModel.load(model_dir))
    return [load_file(data / rel, spec)[0] for rel in IMAGES] + [noise_image()]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--node-modules", required=True, help="folder holding @tensorflow/tfjs etc.")
    p.add_argument("--data", default=str(DATA), help="the shared data folder")
    p.add_argument("--out", default=str(FIXTURE))
    p.add_argument("--landmarks", action="store_true", help=f"write {LANDMARKS.name} instead")
    args = p.parse_args(argv)
    if args.landmarks:
        return landmarks_fixture(args, Path(args.data))
    data = Path(args.data)
    weights = data / "pretrained" / "face-api"
    sys.path.insert(0, str(ROOT / "src"))
    from siamese.weights import import_face_api

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        import_face_api(weights, model_dir, align=False)
        items = prepared_inputs(model_dir, data)
        hwc = np.stack([x.transpose(1, 2, 0) for x in items])  # (N, 150, 150, 3) RGB
        (Path(tmp) / "inputs.bin").write_bytes(np.ascontiguousarray(hwc).tobytes())
        env = {**os.environ, "NODE_PATH": str(Path(args.node_modules).resolve())}
        subprocess.run(
            ["node", str(ROOT / "tools" / "face_api_reference.cjs"), str(weights),
             str(Path(tmp) / "inputs.bin"), str(len(items)), str(Path(tmp) / "out.json")],
            check=True, env=env,
        )  # fmt: skip
        ref = json.loads((Path(tmp) / "out.json").read_text())
    fixture = {
        "about": "face-api's own descriptors of these inputs (tools/face_api_reference.py)",
        "computed_with": ref["computed_with"],
        "inputs": [
            {"file": rel, "sha256": pixel_sha256(x)} for rel, x in zip(IMAGES, items, strict=False)
        ]
        + [{"noise_seed": NOISE_SEED, "sha256": pixel_sha256(items[-1])}],
        "descriptors": [[float(f"{v:.7g}") for v in d] for d in ref["descriptors"]],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {args.out}: {len(items)} descriptors, {ref['computed_with']}")


def run_node(node_modules: str, weights: Path, items: list[np.ndarray], kind: str) -> dict:
    """``tools/face_api_reference.cjs`` on ``(3, S, S)`` uint8 items: its JSON answer."""
    with tempfile.TemporaryDirectory() as tmp:
        hwc = np.stack([x.transpose(1, 2, 0) for x in items])  # (N, S, S, 3) RGB
        (Path(tmp) / "inputs.bin").write_bytes(np.ascontiguousarray(hwc).tobytes())
        env = {**os.environ, "NODE_PATH": str(Path(node_modules).resolve())}
        subprocess.run(
            ["node", str(ROOT / "tools" / "face_api_reference.cjs"), str(weights),
             str(Path(tmp) / "inputs.bin"), str(len(items)), str(Path(tmp) / "out.json"), kind],
            check=True, env=env,
        )  # fmt: skip
        return json.loads((Path(tmp) / "out.json").read_text())


def landmarks_fixture(args: argparse.Namespace, data: Path) -> None:
    items = landmark_inputs(data)
    ref = run_node(args.node_modules, data / "pretrained" / "face-api", items, "landmarks")
    fixture = {
        "about": "face-api's own landmark outputs (x, y fractions of the 112x112 input, "
        "interleaved) of these inputs (tools/face_api_reference.py --landmarks)",
        "computed_with": ref["computed_with"],
        "inputs": [{"file": rel, "crop": "central 112x112", "sha256": pixel_sha256(x)}
                   for rel, x in zip(IMAGES, items, strict=False)]
        + [{"noise_seed": NOISE_SEED, "side": LANDMARK_SIDE, "sha256": pixel_sha256(items[-1])}],
        "outputs": [[float(f"{v:.7g}") for v in d] for d in ref["descriptors"]],
    }  # fmt: skip
    out = LANDMARKS if args.out == str(FIXTURE) else Path(args.out)
    out.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {out}: {len(items)} outputs, {ref['computed_with']}")


if __name__ == "__main__":
    main()
