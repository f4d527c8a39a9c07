"""Export a model's embedding tower (normaliser + encoder) to ONNX or TorchScript, checked for parity.

The exported graph maps a float32 batch of raw items ``(batch, *item_shape)`` (images as their
0-255 values cast to float32) to embeddings ``(batch, D)``, exactly as ``SiameseModel.embed``.
The batch axis is dynamic (ONNX input ``items`` / output ``embeddings``, axis 0 named ``batch``);
the item shape is fixed. LSTM encoders are exported on their fixed-length path (no ``lengths``
input): feed full-length series, as padded sequences would otherwise be read as data. The pair
head is not exported (compare embeddings with the model's distance, or run the head yourself).
Test-time shifts are not exported either: the graph embeds one view, and a model saved with
``test_time_shift`` > 0 averages shifted views in the library (the result names the setting).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from siamese._io import atomic_write_bytes
from siamese.errors import ConfigError, ModelFileError
from siamese.gallery import find_model_dir
from siamese.gallery.inputs import ItemSpec

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-4


class _EmbeddingTower(nn.Module):
    """normaliser + encoder on the fixed-length path: ``(B, *item_shape)`` -> ``(B, D)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.normaliser = model.normaliser
        self.encoder = model.encoder

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.normaliser(items))  # (B, D)


def export_model(
    source: str | Path | Any,
    format: str = "onnx",
    out: str | Path | None = None,
    *,
    opset: int = 17,
    check: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Export the embedding tower of a model and check it embeds as the library does.

    Args:
        source: a run folder or model folder (holding ``model.json`` + ``model.safetensors``), or
            a loaded ``SiameseModel``.
        format: ``"onnx"`` or ``"torchscript"``.
        out: the file to write; default ``<source>/model.onnx`` or ``<source>/model.pt``.
        opset: the ONNX opset.
        check: run the exported file (onnxruntime / ``torch.jit.load``) on random items and
            compare with ``SiameseModel.embed``.
        seed: seed of the random check items.

    Returns:
        ``{"path", "format", "input_shape", "embedding_dim", "max_abs_diff", "test_time_shift"}``
        (``max_abs_diff`` is None without ``check``).

    Raises:
        ConfigError: unknown format, or no ``out`` for an in-memory model.
        ModelFileError: the model folder is broken, or the export does not match within 1e-4.
    """
    from siamese.model import SiameseModel

    if format not in FORMATS:
        raise ConfigError(f"format: expected one of {', '.join(FORMATS)}, got {format!r}")
    if isinstance(source, (str, Path)):
        folder = find_model_dir(source)
        model = SiameseModel.load(folder)
        out = Path(out) if out else folder / f"model{FORMATS[format]}"
    else:
        model = source
        if out is None:
            raise ConfigError("out: expected a file path when exporting an in-memory model")
        out = Path(out)
    model.eval()
    spec = ItemSpec.of(model)
    tower = _EmbeddingTower(model).eval()
    example = _check_items(spec, 2, seed)  # (2, *item_shape)
    data = _to_onnx(tower, example, opset) if format == "onnx" else _to_torchscript(tower, example)
    atomic_write_bytes(out, data)
    diff = None
    if check:
        items = _check_items(spec, 5, seed + 1)  # a batch size unlike the traced one
        shift, model.test_time_shift = model.test_time_shift, 0  # the graph embeds one view
        try:
            want = model.embed(items).numpy()  # (5, D)
        finally:
            model.test_time_shift = shift
        got = _run_exported(out, format, items)
        diff = float(np.abs(got - want).max())
        if not diff <= TOLERANCE:
            raise ModelFileError(
                f"{out}: exported embeddings differ from the library's by {diff:.3g} "
                f"(tolerance {TOLERANCE}); the encoder has an operation the exporter mistranslates"
            )
    return {
        "path": str(out),
        "format": format,
        "input_shape": ["batch", *spec.shape],
        "embedding_dim": int(want.shape[1]) if check else None,
        "max_abs_diff": diff,
        "test_time_shift": model.test_time_shift,
    }


def _check_items(spec: ItemSpec, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if spec.kind == "image":
        return rng.integers(0, 256, size=(n, *spec.shape)).astype(np.float32)
    return rng.normal(size=(n, *spec.shape)).astype(np.float32)


def _to_onnx(tower: nn.Module, example: np.ndarray, opset: int) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and LSTM batch notes
        torch.onnx.export(
            tower,
            (torch.from_numpy(example),),
            buf,
            dynamo=False,
            input_names=["items"],
            output_names=["embeddings"],
            dynamic_axes={"items": {0: "batch"}, "embeddings": {0: "batch"}},
            opset_version=opset,
        )
    return buf.getvalue()


def _to_torchscript(tower: nn.Module, example: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(tower, (torch.from_numpy(example),), check_trace=False)
        torch.jit.save(traced, buf)
    return buf.getvalue()


def _run_exported(path: Path, format: str, items: np.ndarray) -> np.ndarray:
    if format == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError(
                "the ONNX check needs onnxruntime: pip install 'siamese[export]' (or pass check=False)"
            ) from None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(["embeddings"], {"items": items})[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path))
    with torch.no_grad():
        return module(torch.from_numpy(items)).numpy()
