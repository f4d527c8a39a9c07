"""Read TensorFlow.js weights: a ``*-weights_manifest.json`` and the binary shards it lists.

The format (``tf.io.decodeWeights`` in @tensorflow/tfjs-core): the manifest is a list of groups,
each ``{"paths": [shard files], "weights": [{"name", "shape", "dtype", "quantization"?}]}``. A
group's shards, concatenated in order, hold its tensors one after another, little-endian. A tensor
with ``quantization = {"dtype": "uint8" | "uint16", "scale", "min"}`` is stored as those integers
and means ``q * scale + min``; ``{"dtype": "float16"}`` stores half floats. Nothing is executed:
the files are numbers and JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from siamese._read import read_bytes, read_json
from siamese.errors import ModelFileError

#: Stored bytes per value of each dtype (before dequantisation).
_STORED = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("u1"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_SHARD_BYTES = 2**31


def read_tfjs_weights(manifest: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a TensorFlow.js weights manifest, dequantised to float32 (int32 stays).

    Args:
        manifest: the ``*-weights_manifest.json`` file; its shards are looked up beside it.

    Returns:
        ``{tensor name: array of the manifest's shape}`` in manifest order.

    Raises:
        ModelFileError: the manifest is missing, not JSON or not a list of groups; a weight entry
            lacks a name, shape or known dtype; a shard is missing; the shards hold fewer or more
            bytes than the listed tensors need (the tensor where they run out is named).
    """
    manifest = Path(manifest)
    groups = read_json(manifest, "TensorFlow.js weights manifest", max_bytes=MAX_MANIFEST_BYTES,
                       error=ModelFileError)  # fmt: skip
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ModelFileError(
            f"{manifest}: expected a TensorFlow.js weights manifest (a JSON list of "
            '{"paths": [...], "weights": [...]} groups)'
        )
    out: dict[str, np.ndarray] = {}
    for k, group in enumerate(groups):
        where = f"{manifest}, group {k + 1}"
        paths, weights = group.get("paths"), group.get("weights")
        if not isinstance(paths, list) or not isinstance(weights, list):
            raise ModelFileError(f"{where}: expected 'paths' and 'weights' lists")
        data = b"".join(_read_shard(manifest, p, where) for p in paths)
        offset = 0
        for entry in weights:
            name, shape, stored, quant = _entry(entry, where)
            count = int(np.prod(shape, dtype=np.int64))
            size = count * stored.itemsize
            if offset + size > len(data):
                raise ModelFileError(
                    f"{where}: the shards ({', '.join(map(str, paths))}, {len(data)} bytes) end "
                    f"inside tensor {name!r} (needs bytes {offset} to {offset + size}); a shard "
                    "is truncated or missing: copy the files again from the package"
                )
            raw = np.frombuffer(data, dtype=stored, count=count, offset=offset)
            offset += size
            out[name] = _dequantise(raw, entry, quant).reshape(shape)
        if offset != len(data):
            raise ModelFileError(
                f"{where}: the shards hold {len(data)} bytes but the listed tensors use {offset}; "
                "the manifest and its .bin files do not belong together"
            )
    return out


def _read_shard(manifest: Path, name: Any, where: str) -> bytes:
    if (
        not isinstance(name, str)
        or not name
        or Path(name).is_absolute()
        or ".." in Path(name).parts
    ):
        raise ModelFileError(
            f"{where}: expected shard file names beside the manifest, got {name!r}"
        )
    path = manifest.parent / name
    if not path.is_file():
        raise ModelFileError(
            f"{path}: missing shard listed in {manifest.name}; copy every .bin file of the model "
            "next to its manifest"
        )
    return read_bytes(path, "weights shard", max_bytes=MAX_SHARD_BYTES, error=ModelFileError)


def _entry(entry: Any, where: str) -> tuple[str, list[int], np.dtype, dict[str, Any] | None]:
    """``(name, shape, stored dtype, quantization)`` of one manifest weight entry."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ModelFileError(f"{where}: expected weight entries with a 'name', got {entry!r:.80}")
    name, shape, dtype = entry["name"], entry.get("shape"), entry.get("dtype")
    if not isinstance(shape, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise ModelFileError(f"{where}: tensor {name!r}: expected a list of sizes, got {shape!r}")
    if dtype not in ("float32", "int32", "bool"):
        raise ModelFileError(
            f"{where}: tensor {name!r}: expected dtype float32, int32 or bool, got {dtype!r}"
        )
    quant = entry.get("quantization")
    if quant is None:
        return name, shape, _STORED[dtype], None
    qtype = quant.get("dtype") if isinstance(quant, dict) else None
    if qtype not in ("uint8", "uint16", "float16"):
        raise ModelFileError(
            f"{where}: tensor {name!r}: expected quantization dtype uint8, uint16 or float16, "
            f"got {qtype!r}"
        )
    if qtype != "float16" and not all(
        isinstance(quant.get(k), (int, float)) and not isinstance(quant.get(k), bool)
        for k in ("scale", "min")
    ):
        raise ModelFileError(
            f"{where}: tensor {name!r}: {qtype} quantization needs numbers 'scale' and 'min'"
        )
    return name, shape, _STORED[qtype], quant


def _dequantise(raw: np.ndarray, entry: dict[str, Any], quant: dict[str, Any] | None) -> np.ndarray:
    """Stored values as the tensor's dtype: ``q * scale + min`` for integer quantisation.

    As tfjs does it: ``Float32Array.from(q, v => v * scale + min)``, that is in double precision
    rounded once to float32.
    """
    if quant is None:
        return raw.astype(np.int32 if entry["dtype"] == "int32" else np.float32)
    values = raw.astype(np.float64)
    if quant["dtype"] != "float16":
        values = values * float(quant["scale"]) + float(quant["min"])
    return values.astype(np.int32 if entry["dtype"] == "int32" else np.float32)
