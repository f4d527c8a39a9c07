"""Regenerate ``tests/fixtures/face_api/reference.json``: face-api's own descriptors, from tfjs.

The inputs are prepared by this library exactly as ``siamese identify`` prepares image files for
an imported face-api model (``siamese.gallery.inputs.load_file``): four LFW images (150x150 RGB,
used as they are) and one seeded noise image. Their pixels go to ``tools/face_api_reference.cjs``,
which runs @vladmandic/face-api's FaceRecognitionNet on @tensorflow/tfjs in node; the descriptors
it returns, with a SHA-256 of each input's pixels, are the fixture that
``tests/weights/test_face_api_parity.py`` compares the PyTorch port with (max abs diff <= 1e-3).

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
#: LFW images (relative to the shared data folder): two of one person, two others.
IMAGES = [
    "lfw/images/George_W_Bush/George_W_Bush_0007.jpg",
    "lfw/images/George_W_Bush/George_W_Bush_0016.jpg",
    "lfw/images/Colin_Powell/Colin_Powell_0040.jpg",
    "lfw/images/Serena_Williams/Serena_Williams_0001.jpg",
]
NOISE_SEED = 0


def noise_image(seed: int = NOISE_SEED) -> np.ndarray:
    """A ``(3, 150, 150)`` uint8 image of seeded uniform noise (no data file needed)."""
    return np.random.default_rng(seed).integers(0, 256, size=(3, 150, 150), dtype=np.uint8)


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
    args = p.parse_args(argv)
    data = Path(args.data)
    weights = data / "pretrained" / "face-api"
    sys.path.insert(0, str(ROOT / "src"))
    from siamese.weights import import_face_api

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        import_face_api(weights, model_dir)
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


if __name__ == "__main__":
    main()
