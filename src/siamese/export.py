"""Export a model to ONNX or TorchScript: its embedding and its pair head, checked for parity.

The embedding graph is ``SiameseModel.embed`` as one graph: normaliser + encoder, averaged over
the model's saved test-time views (``test_time_shift``). It maps a float32 batch of raw items
``items (batch, *item_shape)`` (images as their 0-255 values cast to float32) to ``embeddings
(batch, D)``; an encoder that takes the true lengths of padded sequences (LSTM, conv1d) also takes
``lengths (batch,)`` int64, so series shorter than the item shape are zero-padded to it and read
as the library reads them. The batch axis is dynamic, the item shape fixed.

A model with Koch's pair head gets a second file beside the first, ``<stem>.head<suffix>``:
``e1, e2 (batch, D)`` embeddings -> ``probability (batch,)``, as ``SiameseModel.similarity``.

Each file is run (onnxruntime, ``torch.jit.load``) and compared with the library on real items
of the run's own data when the run folder can read it again, else on random items; the largest
absolute difference is returned. A part an exporter cannot carry is one ``ModelFileError`` line
naming the part and the format that does carry it.

``precision`` ``fp16`` or ``int8`` (ONNX only) converts the embedding graph with ONNX Runtime's
tools (``siamese.compress.quantise``; int8 static calibrates on the run's training items); the
pair head stays float32 (it is ``D + 1`` weights). Every ONNX export also gets ``<file>.json``
beside it (``siamese-export/1``: precision, inputs, the model's ``model.json``, the checks), which
``siamese.compress.OnnxModel`` (and ``siamese serve --model``) reads. An fp16 or int8 export is
not held to the 1e-4 tolerance; when the run's data can be read again, its check compares it with
the float32 library model on the run's test items instead (``siamese.compress.compare``): mean
and min cosine similarity of the embeddings, one-shot accuracy and verification AUC of each.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from siamese._io import atomic_write_bytes, atomic_write_json
from siamese.errors import ConfigError, ModelFileError, SiameseError
from siamese.gallery import find_model_dir
from siamese.gallery.inputs import ItemSpec

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TOLERANCE = 1e-4
CHECK_ITEMS = 16  # real items the check embeds
CALIBRATION_ITEMS = 128  # training items int8 static calibrates on


class _EmbeddingTower(nn.Module):
    """``SiameseModel.embed`` of one batch: ``(B, *item_shape)`` [+ lengths ``(B,)``] -> ``(B, D)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, items: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.model._embed_views(items, lengths)  # (B, D)


class _HeadTower(nn.Module):
    """The pair head's probability: ``(B, D), (B, D)`` -> ``(B,)``."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        return self.head.probability(e1, e2)  # (B,)


class _Unexportable(Exception):
    """An exporter failed on a module (the message: its first line)."""


def export_model(
    source: str | Path | Any,
    format: str = "onnx",
    out: str | Path | None = None,
    *,
    opset: int = 17,
    check: bool = True,
    seed: int = 0,
    precision: str = "float32",
    int8_mode: str = "auto",
    compare_items: int = 1000,
) -> dict[str, Any]:
    """Export a model's embedding (and pair head) and check it computes what the library does.

    Args:
        source: a run folder or model folder (holding ``model.json`` + ``model.safetensors``), or
            a loaded ``SiameseModel``.
        format: ``"onnx"`` or ``"torchscript"``.
        out: the embedding file to write; default ``<source>/model.onnx`` or ``<source>/model.pt``.
            The pair head, if any, goes to ``<out stem>.head<suffix>`` beside it.
        opset: the ONNX opset.
        check: run the exported files and compare with ``SiameseModel.embed`` / ``similarity``
            on real items of the run's data (random items when it has none).
        seed: seed of the random items (the traced example, and the check without real items).
        precision: ``"float32"``, or (ONNX) ``"fp16"`` or ``"int8"``; the default ``out`` is
            then ``model.fp16.onnx`` / ``model.int8.onnx``.
        int8_mode: ``"static"`` (calibrated on the run's training items), ``"dynamic"``, or
            ``"auto"``: the encoder family's mode (``siamese.compress.quantise.INT8_MODE``).
        compare_items: test items the comparison with the library embeds (fp16 / int8, with
            the run's data).

    Returns:
        ``{"path", "format", "precision", "int8_mode", "inputs", "input_shape",
        "embedding_dim", "test_time_shift", "checked_on", "max_abs_diff", "head_path",
        "head_max_abs_diff", "bytes", "meta_path", "comparison"}`` (diffs None without
        ``check``; head fields None without a head; ``comparison``: see
        ``compare_with_library``, None for float32 or without the run's data).

    Raises:
        ConfigError: unknown format or precision, a precision the format cannot take
            (TorchScript: float32 only), int8 static without the run's training data, or no
            ``out`` for an in-memory model.
        ModelFileError: the model folder is broken, a part of the model cannot be exported to
            ``format`` (the message names it and the format that works), or an export does not
            match the library within 1e-4.
    """
    from siamese.compress.quantise import PRECISIONS
    from siamese.compress.quantise import int8_mode as resolve_int8_mode
    from siamese.model import SiameseModel

    if format not in FORMATS:
        raise ConfigError(f"format: expected one of {', '.join(FORMATS)}, got {format!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if format != "onnx" and precision != "float32":
        raise ConfigError(
            f"precision {precision!r}: {format} exports are float32 only; use --format onnx "
            f"--precision {precision}"
        )
    run_dir = None
    suffix = FORMATS[format] if precision == "float32" else f".{precision}{FORMATS[format]}"
    if isinstance(source, (str, Path)):
        folder = find_model_dir(source)
        model = SiameseModel.load(folder)
        out = Path(out) if out else folder / f"model{suffix}"
        run_dir = next((p for p in (Path(source), folder) if (p / "config.json").is_file()), None)
    else:
        model = source
        if out is None:
            raise ConfigError("out: expected a file path when exporting an in-memory model")
        out = Path(out)
    model.eval()
    spec = ItemSpec.of(model)
    takes_lengths = spec.takes_lengths and spec.kind == "sequence"
    tower = _EmbeddingTower(model).eval()
    example = _random_batch(spec, 2, seed, takes_lengths)  # (2, *item_shape) [, (2,)]
    names = ["items", "lengths"] if takes_lengths else ["items"]
    data = _export_or_explain(model, tower, example, names, ["embeddings"], format, opset, source)
    mode = None
    if precision == "int8":
        mode = resolve_int8_mode(int8_mode, model.encoder_name)
    # the run's splits, read once: the real items of the check, int8 calibration, the comparison
    splits = _run_splits(run_dir) if check or mode == "static" else (None, "")
    if precision != "float32":
        data = _convert(data, precision, mode, splits, names, source)
    head_out = None
    if model.head is not None:
        head_out = out.with_name(f"{out.stem}.head{out.suffix}")
        dim = int(model.head.dim)
        g = torch.Generator().manual_seed(seed)
        pair = (torch.randn(2, dim, generator=g), torch.randn(2, dim, generator=g))
        head = _HeadTower(model.head).eval()
        head_data = _export_or_explain(
            model, head, pair, ["e1", "e2"], ["probability"], format, opset, source, part="head"
        )
    atomic_write_bytes(out, data)
    if head_out is not None:
        atomic_write_bytes(head_out, head_data)
    report: dict[str, Any] = {
        "path": str(out),
        "format": format,
        "precision": precision,
        "int8_mode": mode,
        "bytes": len(data),
        "inputs": names,
        "input_shape": ["batch", *spec.shape],
        "embedding_dim": None,
        "test_time_shift": model.test_time_shift,
        "checked_on": None,
        "max_abs_diff": None,
        "head_path": None if head_out is None else str(head_out),
        "head_max_abs_diff": None,
        "meta_path": None,
        "comparison": None,
    }
    exact = precision == "float32"  # fp16 / int8: differences are measured, not a failure
    if check:
        batches, where = _check_batches(run_dir, splits, spec, takes_lengths, seed)
        diff, emb = 0.0, None
        for batch in batches:
            want = model.embed(*batch).numpy()  # (n, D)
            got = _run_exported(out, format, dict(zip(names, batch, strict=False)))
            diff = max(diff, _max_diff(got, want, out, exact))
            emb = want if emb is None else emb
        report.update(embedding_dim=int(emb.shape[1]), checked_on=where, max_abs_diff=diff)
        if head_out is not None:
            e1, e2 = emb, np.roll(emb, 1, axis=0)  # each item against the next: same and different
            want = model.similarity(torch.from_numpy(e1), torch.from_numpy(e2)).numpy()  # (n,)
            got = _run_exported(head_out, format, {"e1": e1, "e2": e2})
            report["head_max_abs_diff"] = _max_diff(got, want, head_out)
    if format == "onnx":
        from siamese.compress.onnx_model import EXPORT_FORMAT, OnnxModel, meta_path, weights_digest

        meta = {
            "format": EXPORT_FORMAT,
            "precision": precision,
            "int8_mode": mode,
            "inputs": names,
            "embedding": out.name,
            "head": None if head_out is None else head_out.name,
            "model": model.config(),
            "weights_digest": weights_digest(model),
            "check": {k: report[k] for k in ("checked_on", "max_abs_diff", "head_max_abs_diff")},
        }
        report["meta_path"] = str(meta_path(out))
        atomic_write_json(meta_path(out), meta)
        if check and not exact:  # float32 is held to 1e-4 above: the same figures
            report["comparison"] = _compare(
                OnnxModel(out), model, run_dir, splits[0], compare_items
            )
            meta["comparison"] = report["comparison"]
            atomic_write_json(meta_path(out), meta)
    return report


def _convert(
    data: bytes,
    precision: str,
    mode: str | None,
    splits: tuple[dict[str, Any] | None, str],
    names: list[str],
    source: Any,
) -> bytes:
    """The float32 graph ``data`` in fp16 or int8 (static: calibrated on the run's training items).

    Raises:
        ConfigError: int8 static without readable training data (the message says to pass a run
            folder or ``--int8-mode dynamic``).
    """
    from siamese.compress.quantise import calibration_batches, quantise

    calibration = None
    if mode == "static":
        parts, why = splits
        train = None if parts is None else parts.get("train")
        if train is None or not len(train):
            why = why or "the run has no training items"
            raise ConfigError(
                f"{source}: int8 static needs calibration items from the run's training data "
                f"({why}); pass the run folder written by `siamese train`, or --int8-mode dynamic"
            )
        idx = np.unique(np.linspace(0, len(train) - 1, min(CALIBRATION_ITEMS, len(train))))
        idx = idx.astype(int)
        lengths = None if train.lengths is None else np.asarray(train.lengths)[idx]
        calibration = calibration_batches(train.load(idx).astype(np.float32), lengths, names)
    try:
        return quantise(data, precision, mode=mode or "dynamic", calibration=calibration)
    except ConfigError:
        raise
    except Exception as exc:  # the tools raise their own types; each means "cannot convert"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        other = "--int8-mode dynamic" if mode == "static" else "--precision float32"
        raise ModelFileError(
            f"{source}: ONNX Runtime could not convert the model to {precision} ({first}); "
            f"try {other}"
        ) from None


def _compare(
    export: Any, model: Any, run_dir: Path | None, parts: dict[str, Any] | None, max_items: int
) -> dict | None:
    """``compare_with_library`` on the run's test items (None without the run's data)."""
    from siamese.compress.compare import compare_with_library

    cfg = _run_config(run_dir)
    if cfg is None or parts is None:
        return None
    return (
        compare_with_library(export, model, parts, cfg.evaluation, cfg.seed, max_items=max_items)
        or None
    )


def _max_diff(got: np.ndarray, want: np.ndarray, path: Path, exact: bool = True) -> float:
    diff = float(np.abs(got - want).max()) if want.size else 0.0
    if exact and not diff <= TOLERANCE:
        raise ModelFileError(
            f"{path}: exported output differs from the library's by {diff:.3g} "
            f"(tolerance {TOLERANCE}); the model has an operation the exporter mistranslates"
        )
    return diff


def _random_batch(
    spec: ItemSpec, n: int, seed: int, takes_lengths: bool = False
) -> tuple[np.ndarray, ...]:
    """``n`` random items of ``spec`` (and, for lengths, decreasing lengths from the full one)."""
    rng = np.random.default_rng(seed)
    if spec.kind == "image":
        items = rng.integers(0, 256, size=(n, *spec.shape)).astype(np.float32)
    else:
        items = rng.normal(size=(n, *spec.shape)).astype(np.float32)
    if not takes_lengths:
        return (items,)
    T = spec.shape[0]
    return items, np.maximum(2, T - np.arange(n) * max(1, T // (2 * n))).astype(np.int64)


def _check_batches(
    run_dir: Path | None,
    splits: tuple[dict[str, Any] | None, str],
    spec: ItemSpec,
    takes_lengths: bool,
    seed: int,
) -> tuple[list[tuple[np.ndarray, ...]], str]:
    """The batches the check embeds, and what they are.

    Real items of the run's test split (else validation, else training) with their true lengths
    (at least 2); for an encoder that takes lengths, the same items again cut to shorter random lengths, so the
    padded path is checked even on equal-length data.
    """
    real, where = _real_items(run_dir, splits)
    if real is None:
        batch = _random_batch(spec, 5, seed + 1)  # a batch size unlike the traced one
        items, lengths = batch[0], None
    else:
        items, lengths = real
    T = items.shape[1] if items.ndim > 1 else 1
    if not takes_lengths:
        return [(items,)], where
    full = np.full(len(items), T, dtype=np.int64) if lengths is None else lengths.astype(np.int64)
    full = np.maximum(full, 2)  # a 1-step series has no step statistics (the library gives NaN)
    cut = np.random.default_rng(seed).integers(2, T + 1, size=len(items))
    return [(items, full), (items, np.minimum(full, cut))], where + ", full and cut lengths"


def _run_config(run_dir: Path | None) -> Any:
    """The run's ``RunConfig`` (None without a readable ``config.json``)."""
    from siamese.training.config import from_dict

    if run_dir is None:
        return None
    try:
        return from_dict(json.loads((run_dir / "config.json").read_text()))
    except (SiameseError, OSError, ValueError):
        return None


def _run_splits(run_dir: Path | None) -> tuple[dict[str, Any] | None, str]:
    """The run's splits read again, or None and why not."""
    from siamese.training.config import from_dict
    from siamese.training.splits import load_splits

    if run_dir is None:
        return None, "no run config.json beside the model"
    try:
        cfg = from_dict(json.loads((run_dir / "config.json").read_text()))
        _, parts, _ = load_splits(cfg)
    except (SiameseError, OSError, ValueError) as exc:
        return None, f"the run's data could not be read again: {exc}"
    return parts, ""


def _real_items(
    run_dir: Path | None, splits: tuple[dict[str, Any] | None, str]
) -> tuple[tuple[np.ndarray, Any] | None, str]:
    """Up to ``CHECK_ITEMS`` items spread over one split of the run's data, and their source."""
    parts, why = splits
    if parts is None:
        return None, f"random items ({why})"
    name = next((k for k in ("test", "val", "train") if len(parts.get(k) or [])), None)
    if name is None:
        return None, "random items (the run's splits are empty)"
    split = parts[name]
    idx = np.unique(np.linspace(0, len(split) - 1, min(CHECK_ITEMS, len(split))).astype(int))
    lengths = None if split.lengths is None else np.asarray(split.lengths)[idx]
    return (split.load(idx).astype(np.float32), lengths), f"{len(idx)} {name} items of {run_dir}"


def _export_or_explain(
    model: Any,
    module: nn.Module,
    example: tuple[Any, ...],
    input_names: list[str],
    output_names: list[str],
    format: str,
    opset: int,
    source: Any,
    part: str = "embedding",
) -> bytes:
    """Serialise ``module``; if the exporter fails, one line naming the part and a format that works."""
    example = tuple(torch.as_tensor(e) for e in example)
    try:
        return _serialise(module, example, input_names, output_names, format, opset)
    except _Unexportable as exc:
        reason = str(exc)
    if part == "embedding":
        part = _failing_part(model, example, format, opset)
    else:
        part = "pair head"
    other = next(f for f in FORMATS if f != format)
    where = source if isinstance(source, (str, Path)) else "the model"
    try:
        _serialise(module, example, input_names, output_names, other, opset)
        works = f"{other} carries it: siamese export {where} --format {other}"
    except _Unexportable:
        works = "neither onnx nor torchscript carries it; use the library (SiameseModel.embed)"
    raise ModelFileError(f"{where}: {format} cannot carry the {part} ({reason}); {works}")


def _failing_part(model: Any, example: tuple[torch.Tensor, ...], format: str, opset: int) -> str:
    """Which part of the embedding an exporter fails on: the encoder alone, its lengths input,
    the test-time views, or the normaliser."""
    name = model.encoder_name or type(model.encoder).__name__
    with torch.no_grad():
        x = model.normaliser(example[0])
    try:
        _serialise(model.encoder, (x,), ["items"], ["embeddings"], format, opset)
    except _Unexportable:
        return f"encoder {name!r} ({type(model.encoder).__name__})"
    if len(example) > 1:
        return f"encoder {name!r} on variable-length input (lengths)"
    if model.test_time_shift:
        return f"test-time views (test_time_shift = {model.test_time_shift})"
    return f"normaliser ({model.normaliser.mode})"


def _serialise(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    format: str,
    opset: int,
) -> bytes:
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporters' deprecation and tracer notes
            if format == "onnx":
                with _native_stderr_muted():  # the exporter's C++ shape-inference notes
                    torch.onnx.export(
                        module,
                        example,
                        buf,
                        dynamo=False,
                        input_names=input_names,
                        output_names=output_names,
                        dynamic_axes={n: {0: "batch"} for n in input_names + output_names},
                        opset_version=opset,
                    )
            else:
                torch.jit.save(torch.jit.trace(module, example, check_trace=False), buf)
    except Exception as exc:  # each exporter raises its own types; all mean "cannot carry this"
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise _Unexportable(lines[0][:200]) from None
    return buf.getvalue()


@contextlib.contextmanager
def _native_stderr_muted():
    """Silence file descriptor 2 (C++ warnings bypass Python's ``warnings``); errors still raise."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _run_exported(path: Path, format: str, inputs: dict[str, np.ndarray]) -> np.ndarray:
    if format == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError(
                "the ONNX check needs onnxruntime: pip install 'siamese[export]' (or pass check=False)"
            ) from None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, inputs)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path))
    with torch.no_grad():
        return module(*(torch.from_numpy(v) for v in inputs.values())).numpy()
