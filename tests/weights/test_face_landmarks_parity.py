"""The imported landmark model against face-api's own outputs computed with tfjs, and an aligned
face-api folder through enroll, identify, verify (real files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from siamese.model import SiameseModel
from siamese.weights import import_face_api
from siamese.weights.face_landmarks import MANIFEST, landmark_state_dict

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "face_api" / "landmarks.json"
sys.path.insert(0, str(ROOT / "tools"))
from face_api_reference import landmark_inputs, pixel_sha256  # noqa: E402
from weights_helpers import enroll_identify_verify  # noqa: E402


def test_landmarks_match_face_api_on_tfjs(shared_data):
    from siamese.encoders.face_landmarks import FaceLandmark68Net

    ref = json.loads(FIXTURE.read_text())
    items = landmark_inputs(shared_data)
    for item, r in zip(items, ref["inputs"], strict=True):
        assert pixel_sha256(item) == r["sha256"], (
            f"{r.get('file', 'noise')}: the input pixels differ from the fixture's (another JPEG "
            "decoder?); regenerate it with tools/face_api_reference.py --landmarks"
        )
    net = FaceLandmark68Net().eval()
    net.load_state_dict(landmark_state_dict(shared_data / "pretrained" / "face-api" / MANIFEST))
    with torch.no_grad():
        got = net(torch.from_numpy(np.stack(items))).reshape(len(items), -1).numpy()  # (5, 136)
    want = np.array(ref["outputs"], dtype=np.float32)
    assert got.shape == want.shape == (5, 136)
    assert np.abs(got - want).max() <= 1e-3
    eyes = got[0].reshape(68, 2)[[36, 45]]  # a real face: the eyes level, left before right
    assert eyes[0, 0] < eyes[1, 0] and abs(eyes[0, 1] - eyes[1, 1]) < 0.1


@pytest.fixture(scope="module")
def aligned_model(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aligned") / "model"
    summary = import_face_api(shared_data / "pretrained" / "face-api", out)
    assert summary["aligned"] is True
    return out


def test_aligned_folder_enrolls_identifies_and_verifies(
    aligned_model, shared_data, tmp_path, capsys
):
    enroll_identify_verify(capsys, aligned_model, shared_data / "lfw" / "images", tmp_path)
    enc = SiameseModel.load(aligned_model).encoder
    noise = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, 150, 150)))
    _, ok = enc.align(noise.to(torch.uint8))  # whatever it says, the answer is a chip, not NaN
    assert ok.dtype == torch.bool and torch.isfinite(enc(noise.to(torch.uint8))).all()
