"""Turn a float32 ONNX graph into an int8 or fp16 one with ONNX Runtime's own tools.

- ``int8``, ``static``: weights and activations int8 (QDQ format, weights per channel, 7-bit
  weight range), the activation ranges calibrated (min/max) on items of the run's training data
  (``onnxruntime.quantization.quantize_static`` with a ``CalibrationDataReader``). The graph's
  first block (its first convolution up to the first pooling) stays float32 when that
  convolution reads at most ``FLOAT_FIRST_MAX_CHANNELS`` channels (a grayscale or RGB image).
- ``int8``, ``dynamic``: weights int8, activation ranges found at run time for each batch
  (``quantize_dynamic``); needs no calibration data.
- ``fp16``: every weight and operation in float16, inputs and outputs kept float32
  (``onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)``).

Why these settings (conv4 on Omniglot, measured with ``benchmarks/compress.py`` and ONNX Runtime
profiles on AMD Zen 3, AVX2 without VNNI; see ``docs/benchmarks/compress.md``):

- ``reduce_range`` (7-bit weights), static and dynamic: ONNX Runtime multiplies uint8
  activations by int8 weights with ``vpmaddubsw`` on AVX2 / AVX-512 without VNNI, which
  saturates the sum of two products at 16 bits; with the full 8-bit range conv4's embeddings fell
  to cosine 0.947 (min, against float32) and a short-trained demo LSTM's (dynamic) to 0.972; with
  7 bits 0.998 and 0.9999, at the same speed (the NSL-KDD MLP: 0.996 either way).
- the first block in float32: a convolution over one input channel is a poor int8 matrix product
  (conv4's first layer took 90 us as ``QLinearConv`` against 26 us in float32); in float32 the
  block's output is quantised after its pooling, on a 4x smaller map. ONNX Runtime's
  ``QDQPropagationTransformer`` would move that quantisation back above the pooling, onto a slow
  NCHW uint8 ``MaxPool`` (135 us), so sessions of int8 exports disable it
  (``SESSION_DISABLED_OPTIMIZERS``, used by ``OnnxModel``); the arithmetic is the same either way
  (max-pooling commutes with a monotonic quantisation).

``INT8_MODE`` says which int8 mode each encoder family gets by default: both were measured on
conv4 (Omniglot, 28x28) and koch_cnn (LFW) with ``benchmarks/compress.py``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from siamese.errors import ConfigError

PRECISIONS = ("float32", "fp16", "int8")
INT8_MODES = ("auto", "static", "dynamic")
# The default int8 mode per encoder family. Convolutions: static (QDQ, run as int8 convolutions);
# dynamic int8 convolutions (ConvInteger, activation ranges measured on every call) were far
# slower than float32 in benchmarks/compress.py (one item per call, ONNX Runtime, 1 thread):
# conv4 Omniglot 0.43 ms static / 7.4 ms dynamic / 0.60 ms float32; koch_cnn LFW 32 / 111 / 80 ms.
# Dense-only and recurrent encoders (mlp, lstm): dynamic, which needs no calibration data and
# keeps the LSTM's recurrence in float (static QDQ would quantise each step's activations); the
# benchmark measures only this mode for them.
INT8_MODE = {
    "conv4": "static",
    "koch_cnn": "static",
    "conv1d": "static",
    "mlp": "dynamic",
    "lstm": "dynamic",
}
CALIBRATION_BATCH = 16
REDUCE_RANGE = True  # 7-bit weights: no 16-bit saturation on AVX2 without VNNI (module docstring)
FLOAT_FIRST_MAX_CHANNELS = 4  # a first convolution over at most this many channels stays float32
SESSION_DISABLED_OPTIMIZERS = ["QDQPropagationTransformer"]  # for int8 exports (docstring)


def int8_mode(mode: str, encoder_name: str | None) -> str:
    """The int8 mode to use: ``mode`` itself, or for ``auto`` the family's (``INT8_MODE``).

    Raises:
        ConfigError: an unknown mode.
    """
    if mode not in INT8_MODES:
        raise ConfigError(f"int8 mode: expected one of {', '.join(INT8_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    return INT8_MODE.get(encoder_name or "", "dynamic")


class _Batches:
    """A ``CalibrationDataReader``: feeds ``{input name: batch}`` dicts one by one."""

    def __init__(self, batches: list[dict[str, np.ndarray]]):
        self._it: Iterator[dict[str, np.ndarray]] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def quantise(
    model_bytes: bytes,
    precision: str,
    *,
    mode: str = "dynamic",
    calibration: list[dict[str, np.ndarray]] | None = None,
) -> bytes:
    """The ONNX graph ``model_bytes`` (float32) in ``precision``.

    Args:
        model_bytes: a float32 ONNX model, serialised.
        precision: ``"float32"`` (returned as it is), ``"fp16"`` or ``"int8"``.
        mode: int8 only: ``"static"`` or ``"dynamic"``.
        calibration: int8 static: the batches to calibrate on, each ``{input name: array}``.

    Returns:
        The serialised model in ``precision``.

    Raises:
        ConfigError: an unknown precision or mode, or static int8 without calibration batches.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "float32":
        return model_bytes
    import onnx

    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        with _quiet():
            half = convert_float_to_float16(onnx.load_from_string(model_bytes), keep_io_types=True)
        return half.SerializeToString()
    if mode not in ("static", "dynamic"):
        raise ConfigError(f"int8 mode: expected static or dynamic, got {mode!r}")
    if mode == "static" and not calibration:
        raise ConfigError("int8 static: no calibration batches; pass the run's training items")
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_dynamic,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="siamese-quant-") as tmp, _quiet():
        src, pre, out = Path(tmp, "f32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(model_bytes)
        # constant folding, batch norm folded into convolutions, shapes inferred: what the
        # quantiser needs to see every Conv / MatMul with its weight
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        if mode == "static":
            first = float_first_block(onnx.load(str(pre)))
            quantize_static(
                str(pre),
                str(out),
                _Batches(calibration or []),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                reduce_range=REDUCE_RANGE,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=first,
            )
        else:
            quantize_dynamic(
                str(pre),
                str(out),
                per_channel=True,
                reduce_range=REDUCE_RANGE,
                weight_type=QuantType.QInt8,
            )
        return out.read_bytes()


def float_first_block(model: Any) -> list[str]:
    """The nodes static int8 keeps float32: every first convolution of the graph (one with no
    convolution before it; a graph with test-time views has one per view) that reads at most
    ``FLOAT_FIRST_MAX_CHANNELS`` channels, the nodes feeding it, and its block after it: its
    activation and the pooling after that (the block ends before any other node)."""
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def ancestors(node: Any) -> list[Any]:
        seen, todo, out = set(), list(node.input), []
        while todo:
            up = producer.get(todo.pop())
            if up is not None and id(up) not in seen:
                seen.add(id(up))
                out.append(up)
                todo.extend(up.input)
        return out

    kept: list[str] = []
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 2:
            continue
        before = ancestors(node)
        w = weights.get(node.input[1])
        if any(n.op_type == "Conv" for n in before) or not w or len(w) < 2:
            continue
        if w[1] > FLOAT_FIRST_MAX_CHANNELS:
            continue
        block, last = [node], node
        for ops in (("Relu", "Clip", "BatchNormalization"), ("MaxPool", "AveragePool")):
            nxt = consumers.get(last.output[0], [])
            if len(nxt) != 1 or nxt[0].op_type not in ops:
                break
            last = nxt[0]
            block.append(last)
        kept += [n.name for n in before + block if n.name not in kept]
    return kept


def calibration_batches(
    items: np.ndarray, lengths: np.ndarray | None, names: list[str]
) -> list[dict[str, np.ndarray]]:
    """``items`` (float32) [and their int64 ``lengths``] in batches of ``CALIBRATION_BATCH``."""
    out = []
    for i in range(0, len(items), CALIBRATION_BATCH):
        batch = {names[0]: items[i : i + CALIBRATION_BATCH].astype(np.float32)}
        if len(names) > 1:
            T = items.shape[1]
            lens = (
                np.full(len(batch[names[0]]), T)
                if lengths is None
                else lengths[i : i + CALIBRATION_BATCH]
            )
            batch[names[1]] = np.maximum(np.asarray(lens), 2).astype(np.int64)
        out.append(batch)
    return out


@contextlib.contextmanager
def _quiet():
    """The quantisation tools log and warn at length (per node); keep errors only."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
