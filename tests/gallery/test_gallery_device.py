"""Enrolment, a loaded gallery and ``siamese evaluate`` embed on the device asked for (auto / cpu /
cuda); "cuda" without a GPU is one line. PyTorch's ``meta`` device stands in for a GPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import siamese.training.device as device_module
from siamese.errors import ConfigError
from siamese.gallery import Gallery
from siamese.gallery.build import build_gallery
from siamese.pipeline.evaluate_run import evaluate_run
from siamese.training import load_config
from siamese.training.config import to_dict

NO_GPU = r'^device = "cuda": no CUDA GPU is usable \(torch .*\); set device = "auto" or "cpu"'


@pytest.fixture
def folder(tmp_path, make_clusters):
    x, y = make_clusters(4, 2, 8, seed=3)
    for i, (v, name) in enumerate(zip(x, y, strict=True)):
        (tmp_path / "data" / name).mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "data" / name / f"{i}.npy", v)
    return tmp_path / "data"


def test_enroll_and_load_on_the_device_asked_for(saved_model, folder, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=NO_GPU):
        build_gallery(saved_model, folder=folder, device="cuda")
    gal = build_gallery(saved_model, folder=folder, out=tmp_path / "g", device="cpu")
    assert {p.device.type for p in gal.model.parameters()} == {"cpu"}
    with pytest.raises(ConfigError, match=NO_GPU):
        Gallery.load(tmp_path / "g", device="cuda")
    cpu = Gallery.load(tmp_path / "g")  # auto, no GPU: the CPU
    assert {p.device.type for p in cpu.model.parameters()} == {"cpu"}
    calls = []

    def meta(name, key):  # "a GPU is there": auto resolves to it
        calls.append((name, key))
        return torch.device("meta")

    monkeypatch.setattr(device_module, "resolve_device", meta)
    moved = Gallery.load(tmp_path / "g")
    assert calls == [("auto", "device")]
    assert {p.device.type for p in moved.model.parameters()} == {"meta"}


def test_evaluate_on_cuda_without_a_gpu_is_one_line(saved_model, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (saved_model / "config.json").write_text(json.dumps(to_dict(load_config(None, []))))
    with pytest.raises(ConfigError, match=NO_GPU) as err:
        evaluate_run(saved_model, device="cuda")
    assert "\n" not in str(err.value)
