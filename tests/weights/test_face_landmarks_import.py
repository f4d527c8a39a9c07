"""The landmark model's importer on manifests written from a known network, and import-weights
with and without it: aligned folders, --no-align, broken files (one line, exit 2)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from weights_helpers import run_cli, tf_landmark_tensors, tf_tensors, write_manifest

from siamese.encoders.face_landmarks import FaceLandmark68Net
from siamese.model import SiameseModel
from siamese.weights import import_weights
from siamese.weights.face_landmarks import MANIFEST as LANDMARKS


@pytest.fixture
def random_landmark_net() -> FaceLandmark68Net:
    torch.manual_seed(1)
    return FaceLandmark68Net().eval()


@pytest.fixture
def both(tmp_path, random_face_net, random_landmark_net):
    """A folder with both manifests (the recogniser in two shards)."""
    write_manifest(tmp_path, tf_tensors(random_face_net), shards=2)
    write_manifest(tmp_path, tf_landmark_tensors(random_landmark_net), name=LANDMARKS)
    return tmp_path


def test_both_models_are_imported_into_an_aligned_folder(
    both, random_face_net, random_landmark_net
):
    summary = import_weights("face-api", both, both / "model")
    assert summary["aligned"] is True and summary["tensors"] == 117 + 49
    model = SiameseModel.load(both / "model")
    assert model.encoder_name == "face_aligned" and "alignment" in model.info["pretrained"]
    for key, value in random_landmark_net.state_dict().items():
        torch.testing.assert_close(model.encoder.landmarks.state_dict()[key], value, rtol=0, atol=0)
    for key, value in random_face_net.state_dict().items():
        torch.testing.assert_close(model.encoder.embedder.state_dict()[key], value, rtol=0, atol=0)
    x = torch.randint(0, 256, (2, 3, 112, 112), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(model.encoder.landmarks(x), random_landmark_net(x))
    assert model.embed(torch.randint(0, 256, (2, 3, 150, 150), dtype=torch.uint8)).shape == (2, 128)
    plain = import_weights("face-api", both, both / "plain", align=False)
    assert plain["aligned"] is False
    assert SiameseModel.load(both / "plain").encoder_name == "face_resnet"


def test_uint8_landmark_weights_are_dequantised_within_half_a_step(
    tmp_path, random_face_net, random_landmark_net
):
    write_manifest(tmp_path, tf_tensors(random_face_net))
    tensors = tf_landmark_tensors(random_landmark_net)
    write_manifest(tmp_path, tensors, name=LANDMARKS, quantise=True)
    import_weights("face-api", tmp_path, tmp_path / "model", points="5")
    enc = SiameseModel.load(tmp_path / "model").encoder
    assert enc.points == "5"
    dw = enc.landmarks.dense2.conv1.depthwise.weight.detach().numpy().transpose(2, 3, 0, 1)
    want = tensors["dense2/conv1/depthwise_filter"]
    step = (want.max() - want.min()) / 255
    assert np.abs(dw - want).max() <= step / 2 + 1e-6


@pytest.mark.parametrize(
    "how,needle",
    [
        ("missing", r"tensor 'dense1/conv2/pointwise_filter' is missing; the landmark model"),
        ("shape", r"tensor 'dense3/conv0/depthwise_filter' has shape \[3, 3, 64, 1\], "
                  r"expected \[3, 3, 128, 1\]"),
        ("extra", r"unexpected tensor\(s\) 'fc2/bias'; the landmark model"),
        ("shard", r"face_landmark_68_model-weights_manifest-shard1\.bin: missing shard"),
    ],
)  # fmt: skip
def test_bad_landmark_manifest_is_one_line_exit_2(
    tmp_path, capsys, random_face_net, random_landmark_net, how, needle
):
    write_manifest(tmp_path, tf_tensors(random_face_net))
    tensors = tf_landmark_tensors(random_landmark_net)
    if how == "missing":
        del tensors["dense1/conv2/pointwise_filter"]
    elif how == "shape":
        tensors["dense3/conv0/depthwise_filter"] = tensors["dense3/conv0/depthwise_filter"][
            :, :, :64
        ]
    elif how == "extra":
        tensors["fc2/bias"] = np.zeros(3)
    path = write_manifest(tmp_path, tensors, name=LANDMARKS)
    if how == "shard":
        (tmp_path / f"{path.stem}-shard1.bin").unlink()
    out = tmp_path / "model"
    code, stdout, err = run_cli(capsys, "import-weights", "face-api", tmp_path, "--out", out)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + stdout
    assert re.search(needle, err), err
    assert not out.exists() and not list(tmp_path.glob(".model*"))


def test_cli_align_options(tmp_path, capsys, random_face_net, random_landmark_net):
    write_manifest(tmp_path, tf_tensors(random_face_net))
    code, out, err = run_cli(
        capsys, "import-weights", "face-api", tmp_path, "--out", tmp_path / "a"
    )
    assert code == 0 and "landmark" not in out  # no landmark files: not aligned, nothing said
    code, _, err = run_cli(capsys, "import-weights", "face-api", tmp_path, "--out", tmp_path / "b",
                           "--align")  # fmt: skip
    assert code == 2 and f"{LANDMARKS}: missing; --align needs" in err and "--no-align" in err
    write_manifest(tmp_path, tf_landmark_tensors(random_landmark_net), name=LANDMARKS)
    code, out, err = run_cli(
        capsys, "import-weights", "face-api", tmp_path, "--out", tmp_path / "c"
    )
    assert code == 0 and "Imported the landmark model too" in out
    code, _, err = run_cli(capsys, "import-weights", "face-api", tmp_path, "--out", tmp_path / "d",
                           "--points", "7")  # fmt: skip
    assert code == 2 and "expected '68'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()
    code, _, _ = run_cli(capsys, "import-weights", "face-api", tmp_path, "--out", tmp_path / "e",
                         "--no-align")  # fmt: skip
    assert code == 0 and SiameseModel.load(tmp_path / "e").encoder_name == "face_resnet"
