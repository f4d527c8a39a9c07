"""The face-api importer on manifests written from a known network: layouts, names, bad files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from weights_helpers import run_cli, tf_tensors, write_manifest

from siamese.model import SiameseModel
from siamese.weights import import_weights
from siamese.weights.face_api import MANIFEST


def test_float32_round_trip_gives_the_same_network(tmp_path, random_face_net):
    write_manifest(tmp_path, tf_tensors(random_face_net), shards=2)
    summary = import_weights("face-api", tmp_path, tmp_path / "model")
    assert summary["tensors"] == 117 and summary["parameters"] == 5_614_592
    model = SiameseModel.load(tmp_path / "model")
    for key, value in random_face_net.state_dict().items():
        torch.testing.assert_close(model.encoder.state_dict()[key], value, rtol=0, atol=0)
    x = torch.randint(0, 256, (2, 3, 150, 150), dtype=torch.uint8)
    with torch.no_grad():
        want = random_face_net(x)
    torch.testing.assert_close(model.embed(x), want, rtol=0, atol=1e-6)
    info = model.info
    assert info["kind"] == "image" and info["item_shape"] == [3, 150, 150]
    assert "outside labelled face data" in info["pretrained"]["protocol"]
    assert model.distance_name == "euclidean" and model.normaliser.mode == "none"


def test_uint8_weights_are_dequantised_within_half_a_step(tmp_path, random_face_net):
    tensors = tf_tensors(random_face_net)
    write_manifest(tmp_path, tensors, quantise=True)
    import_weights("face-api", tmp_path / MANIFEST, tmp_path / "model", crop=110)
    model = SiameseModel.load(tmp_path / "model")
    assert model.info["image"]["center_crop"] == [110, 110]
    spec = {w["name"]: w for w in json.loads((tmp_path / MANIFEST).read_text())[0]["weights"]}
    fc = model.encoder.fc.weight.detach().numpy().T  # back to TF's (in, out)
    step = spec["fc"]["quantization"]["scale"]
    assert np.abs(fc - tensors["fc"]).max() <= step / 2 + 1e-7


def _broken(tmp_path, net, how):
    tensors = tf_tensors(net)
    if how == "missing":
        del tensors["conv64_2/conv1/scale/biases"]
    elif how == "renamed":
        tensors["conv64_2/conv1/scale/bias"] = tensors.pop("conv64_2/conv1/scale/biases")
    elif how == "shape":
        tensors["conv128_1/conv2/conv/filters"] = tensors["conv128_1/conv2/conv/filters"][:, :, :64]
    elif how == "extra":
        tensors["fc2"] = np.zeros((2, 2))
    path = write_manifest(tmp_path, tensors, shards=2)
    if how == "shard":
        (tmp_path / f"{path.stem}-shard2.bin").unlink()
    return path


@pytest.mark.parametrize(
    "how,needle",
    [
        ("missing", r"tensor 'conv64_2/conv1/scale/biases' is missing"),
        ("renamed", r"tensor 'conv64_2/conv1/scale/biases' is missing"),
        ("shape", r"tensor 'conv128_1/conv2/conv/filters' has shape \[3, 3, 64, 128\], "
                  r"expected \[3, 3, 128, 128\]"),
        ("extra", r"unexpected tensor\(s\) 'fc2'"),
        ("shard", r"shard2\.bin: missing shard listed in"),
    ],
)  # fmt: skip
def test_mismatched_manifest_is_one_line_exit_2(tmp_path, capsys, random_face_net, how, needle):
    _broken(tmp_path, random_face_net, how)
    out = tmp_path / "model"
    code, stdout, err = run_cli(
        capsys, "import-weights", "face-api", str(tmp_path), "--out", str(out)
    )
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + stdout
    assert re.search(needle, err), err
    assert not out.exists() and not list(tmp_path.glob(".model*"))  # nothing half-written


def test_cli_refuses_bad_arguments(tmp_path, capsys, random_face_net):
    write_manifest(tmp_path, tf_tensors(random_face_net))
    args = ["import-weights", "face-api", str(tmp_path), "--out"]
    code, _, err = run_cli(capsys, *args, str(tmp_path / "m"), "--json")
    assert code == 0 and (tmp_path / "m" / "model.json").is_file()
    code, _, err = run_cli(capsys, *args, str(tmp_path / "m"))
    assert code == 2 and "already exists; pass --overwrite" in err
    code, out, err = run_cli(capsys, *args, str(tmp_path / "m"), "--overwrite", "--crop", "100")
    assert code == 0 and SiameseModel.load(tmp_path / "m").info["image"]["center_crop"] == [100] * 2
    code, _, err = run_cli(
        capsys, "import-weights", "onnx", str(tmp_path), "--out", str(tmp_path / "o")
    )
    assert code == 2 and "unknown format 'onnx'; known formats: face-api" in err
    code, _, err = run_cli(capsys, *args, str(tmp_path / "o"), "--crop", "0")
    assert code == 2 and "--crop" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(
        capsys, "import-weights", "face-api", str(empty), "--out", str(tmp_path / "o")
    )
    assert code == 2 and f"{MANIFEST}: missing" in err
    assert not (tmp_path / "o").exists()
