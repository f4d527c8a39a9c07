"""``VectorIndex.gpu`` (siamese.gallery._gpu_index) without a GPU: the no-GPU paths for real, and
the GPU path with faiss-gpu's two calls (``StandardGpuResources``, ``index_cpu_to_gpu``) faked by a
CPU clone that counts how often it is made."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

import siamese.gallery._gpu_index as gpu_index
from siamese.errors import ConfigError
from siamese.gallery._gpu_index import on_gpu, searchable
from siamese.gallery.vector_index import VectorIndex


def _data(n=200, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(5, d)).astype(np.float32)


@pytest.fixture
def no_gpus(monkeypatch):
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 0, raising=False)


@pytest.fixture
def fake_gpu(monkeypatch):
    """faiss 'sees' one GPU; a GPU copy is a CPU clone, recorded in ``copies``."""
    copies = []

    def to_gpu(resources, device, index):
        assert isinstance(resources, FakeResources) and device == 0
        copy = faiss.clone_index(index)
        copies.append(copy)
        return copy

    class FakeResources:
        pass

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1, raising=False)
    monkeypatch.setattr(faiss, "StandardGpuResources", FakeResources, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", to_gpu, raising=False)
    monkeypatch.setattr(gpu_index, "_RESOURCES", [])
    return copies


def test_no_gpu_auto_is_the_cpu_index_and_on_is_one_line(no_gpus):
    x, q = _data()
    flat = faiss.IndexFlatL2(8)
    assert on_gpu(flat, "off") is flat and on_gpu(flat, "auto") is flat
    with pytest.raises(
        ConfigError,
        match=r'^index gpu = "on": .*faiss .* sees no GPU \(faiss.get_num_gpus\(\) = 0\); install faiss-gpu',
    ) as err:
        on_gpu(flat, "on")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="index gpu: expected one of off, auto, on, got 'yes'"):
        on_gpu(flat, "yes")
    off, auto = VectorIndex(8, kind="exact"), VectorIndex(8, kind="exact")
    auto.gpu = "auto"
    for v in (off, auto):
        v.add(x)
    for a, b in zip(off.search(q, 5), auto.search(q, 5), strict=True):
        np.testing.assert_array_equal(a, b)
    assert searchable(auto) is auto.index
    auto.gpu = "on"
    with pytest.raises(ConfigError, match='index gpu = "on"'):
        auto.search(q, 5)


def test_gpu_copy_is_searched_cached_and_remade_when_the_index_grows(fake_gpu):
    x, q = _data()
    plain, gpu = VectorIndex(8, kind="exact"), VectorIndex(8, kind="exact")
    gpu.gpu = "on"
    plain.add(x[:100])
    gpu.add(x[:100])
    expected = plain.search(q, 4)
    for _ in range(2):
        got = gpu.search(q, 4)
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_array_equal(a, b)
    assert len(fake_gpu) == 1 and searchable(gpu) is fake_gpu[0]  # copied once, then cached
    gpu.add(x[100:])
    plain.add(x[100:])
    np.testing.assert_array_equal(gpu.search(q, 4)[1], plain.search(q, 4)[1])
    assert len(fake_gpu) == 2 and fake_gpu[1].ntotal == 200  # the grown index, copied again


def test_ivf_copy_searches_the_index_nprobe(fake_gpu):
    x, q = _data(400)
    ivf = VectorIndex(8, kind="ivf", nprobe=3)
    ivf.gpu = "auto"
    ivf.add(x)
    ivf.search(q, 2)
    assert fake_gpu and fake_gpu[-1].nprobe == 3


def test_hnsw_has_no_gpu_form(fake_gpu):
    hnsw = faiss.IndexHNSWFlat(8, 16)
    assert on_gpu(hnsw, "auto") is hnsw and not fake_gpu
    with pytest.raises(
        ConfigError, match='no GPU form of an HNSW index; use kind "exact" or "ivf"'
    ):
        on_gpu(hnsw, "on")


def test_ivfpq_has_no_gpu_form(fake_gpu):
    """kind "ivfpq" (4-bit fast-scan PQ under an exact re-rank): searched on the CPU under "auto"."""
    rng = np.random.default_rng(0)
    vi = VectorIndex(16, kind="auto", auto_exact_max=10, auto_ivfpq_min=1000)
    vi.add(rng.standard_normal((1200, 16)).astype(np.float32))
    assert isinstance(vi.index, faiss.IndexRefine)
    assert on_gpu(vi.index, "auto") is vi.index and not fake_gpu
    with pytest.raises(
        ConfigError, match=r"no GPU form of a fast-scan / re-ranked \(ivfpq\) index"
    ):
        on_gpu(vi.index, "on")
