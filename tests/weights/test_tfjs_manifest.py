"""TensorFlow.js manifests: dequantisation against a brute-force loop, shards, broken files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from siamese.errors import ModelFileError
from siamese.weights.tfjs_manifest import read_tfjs_weights


def _manifest(tmp_path, weights, data: bytes, paths=("w.bin",)):
    for p in paths:
        (tmp_path / p).write_bytes(data if p == paths[0] else b"")
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"paths": list(paths), "weights": weights}]))
    return path


def test_every_stored_dtype_matches_a_brute_force_decode(tmp_path):
    rng = np.random.default_rng(0)
    q8 = rng.integers(0, 256, size=(2, 3), dtype=np.uint8)
    q16 = rng.integers(0, 2**16, size=(4,), dtype=np.uint16)
    f16 = rng.normal(size=(3,)).astype(np.float16)
    f32 = rng.normal(size=(2, 2)).astype(np.float32)
    i32 = rng.integers(-5, 5, size=(3,)).astype(np.int32)
    weights = [
        {"name": "q8", "shape": [2, 3], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.01, "min": -1.2}},
        {"name": "q16", "shape": [4], "dtype": "float32",
         "quantization": {"dtype": "uint16", "scale": 1e-4, "min": 0.5}},
        {"name": "f16", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "f32", "shape": [2, 2], "dtype": "float32"},
        {"name": "i32", "shape": [3], "dtype": "int32"},
    ]  # fmt: skip
    data = b"".join(a.astype(a.dtype.newbyteorder("<")).tobytes() for a in (q8, q16, f16, f32, i32))
    got = read_tfjs_weights(_manifest(tmp_path, weights, data))
    assert list(got) == ["q8", "q16", "f16", "f32", "i32"]
    for (name, q), (scale, lo) in zip(
        [("q8", q8), ("q16", q16)], [(0.01, -1.2), (1e-4, 0.5)], strict=True
    ):
        brute = np.array([np.float32(float(v) * scale + lo) for v in q.ravel()]).reshape(q.shape)
        np.testing.assert_array_equal(got[name], brute)
        assert got[name].dtype == np.float32
    np.testing.assert_array_equal(got["f16"], f16.astype(np.float32))
    np.testing.assert_array_equal(got["f32"], f32)
    np.testing.assert_array_equal(got["i32"], i32)
    assert got["i32"].dtype == np.int32


def test_tensors_may_span_shards(tmp_path):
    values = np.arange(10, dtype="<f4")
    data = values.tobytes()
    (tmp_path / "a.bin").write_bytes(data[:13])  # the cut falls inside a float
    (tmp_path / "b.bin").write_bytes(data[13:])
    spec = [{"name": "x", "shape": [10], "dtype": "float32"}]
    (tmp_path / "m.json").write_text(json.dumps([{"paths": ["a.bin", "b.bin"], "weights": spec}]))
    np.testing.assert_array_equal(read_tfjs_weights(tmp_path / "m.json")["x"], values)


F32 = [
    {"name": "a", "shape": [2], "dtype": "float32"},
    {"name": "b", "shape": [3], "dtype": "float32"},
]


@pytest.mark.parametrize(
    "weights,data,needle",
    [
        (F32, b"\0" * 12, r"end inside tensor 'b' \(needs bytes 8 to 20\); a shard is truncated"),
        (F32, b"\0" * 24, "hold 24 bytes but the listed tensors use 20; .*do not belong together"),
        ([{"name": "a", "shape": [2], "dtype": "complex64"}], b"", "tensor 'a': expected dtype"),
        ([{"name": "a", "shape": [2, "x"], "dtype": "float32"}], b"", "expected a list of sizes"),
        ([{"shape": [2], "dtype": "float32"}], b"", "expected weight entries with a 'name'"),
        (
            [{"name": "a", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint8"}}],
            b"\0\0",
            "tensor 'a': uint8 quantization needs numbers 'scale' and 'min'",
        ),
        (
            [{"name": "a", "shape": [2], "dtype": "float32", "quantization": {"dtype": "int4"}}],
            b"\0",
            "expected quantization dtype uint8, uint16 or float16, got 'int4'",
        ),
    ],
)
def test_broken_manifests_name_the_tensor(tmp_path, weights, data, needle):
    with pytest.raises(ModelFileError, match=needle):
        read_tfjs_weights(_manifest(tmp_path, weights, data))


def test_missing_shard_and_bad_layouts(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"paths": ["gone.bin"], "weights": F32}]))
    with pytest.raises(ModelFileError, match=r"gone\.bin: missing shard listed in m\.json"):
        read_tfjs_weights(path)
    path.write_text(json.dumps([{"paths": ["../up.bin"], "weights": F32}]))
    with pytest.raises(ModelFileError, match="expected shard file names beside the manifest"):
        read_tfjs_weights(path)
    path.write_text(json.dumps({"weights": []}))
    with pytest.raises(ModelFileError, match="expected a TensorFlow.js weights manifest"):
        read_tfjs_weights(path)
    path.write_text("[{")
    with pytest.raises(ModelFileError, match="m.json"):
        read_tfjs_weights(path)
