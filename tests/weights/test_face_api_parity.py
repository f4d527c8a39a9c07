"""The imported face-api recogniser against face-api's own descriptors computed with tfjs, and
the imported folder through enroll, identify, verify, export and the service (real files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from siamese.gallery.inputs import ItemSpec, load_file
from siamese.model import SiameseModel
from siamese.weights import import_face_api

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "face_api" / "reference.json"
sys.path.insert(0, str(ROOT / "tools"))
from face_api_reference import noise_image, pixel_sha256  # noqa: E402
from weights_helpers import enroll_identify_verify, run_cli  # noqa: E402


@pytest.fixture(scope="module")
def face_model(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("face") / "model"
    import_face_api(shared_data / "pretrained" / "face-api", out, align=False)
    return out


def test_descriptors_match_face_api_on_tfjs(face_model, shared_data):
    ref = json.loads(FIXTURE.read_text())
    spec = ItemSpec.of(SiameseModel.load(face_model))
    items = [load_file(shared_data / r["file"], spec)[0] for r in ref["inputs"][:-1]]
    items.append(noise_image(ref["inputs"][-1]["noise_seed"]))
    for item, r in zip(items, ref["inputs"], strict=True):
        assert pixel_sha256(item) == r["sha256"], (
            f"{r.get('file', 'noise')}: the prepared pixels differ from the fixture's (another "
            "JPEG decoder?); regenerate it with tools/face_api_reference.py"
        )
    got = SiameseModel.load(face_model).embed(np.stack(items)).numpy()  # (5, 128)
    want = np.array(ref["descriptors"], dtype=np.float32)
    assert got.shape == want.shape == (5, 128)
    assert np.abs(got - want).max() <= 1e-3
    same = np.linalg.norm(got[0] - got[1])  # two photos of one person
    assert same < 0.6 < min(np.linalg.norm(got[0] - got[k]) for k in (2, 3))


def test_imported_folder_enrolls_identifies_verifies_and_exports(
    face_model, shared_data, tmp_path, capsys
):
    enroll_identify_verify(capsys, face_model, shared_data / "lfw" / "images", tmp_path)
    code, out, err = run_cli(capsys, "export", face_model, "--format", "onnx", "--json")
    assert code == 0, err
    assert json.loads(out)["max_abs_diff"] <= 1e-4


def test_service_identifies_with_the_imported_model(face_model, shared_data, tmp_path):
    from fastapi.testclient import TestClient

    from siamese.gallery import Gallery
    from siamese.service.app import create_app

    lfw = shared_data / "lfw" / "images"
    spec = ItemSpec.of(SiameseModel.load(face_model))
    names = ["George_W_Bush", "Colin_Powell"]
    photos = {n: sorted((lfw / n).glob("*.jpg"))[:2] for n in names}
    items = np.stack([load_file(photos[n][0], spec)[0] for n in names])
    g = Gallery(SiameseModel.load(face_model), threshold=0.6).fit(items, names)
    client = TestClient(create_app(g))
    files = [
        ("files", (p.name, p.read_bytes(), "image/jpeg")) for p in (photos[n][1] for n in names)
    ]
    r = client.post("/identify", files=files, data={"k": "1"})
    assert r.status_code == 200, r.text
    assert [res["label"] for res in r.json()["results"]] == names  # each one's other photo
