"""An exported model run by ONNX Runtime, with the interface of ``SiameseModel`` that evaluation,
the gallery and the service use: ``embed``, ``embed_dataset``, ``similarity``, ``distance``,
``head``, ``info``.

An export is ``<name>.onnx`` (the embedding), ``<name>.head.onnx`` (Koch's pair head, if the
model has one) and ``<name>.onnx.json`` beside them (``siamese-export/1``: the precision, the
inputs, the model's ``model.json`` and the checks made), all written by ``siamese export``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamese._read import read_json
from siamese.errors import ConfigError, ModelFileError
from siamese.objectives.distances import get_distance

EXPORT_FORMAT = "siamese-export/1"


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of a model's tensors (names, shapes, values): which weights an export was made of."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def meta_path(onnx_path: str | Path) -> Path:
    """The ``.json`` description written beside an ONNX export: ``model.int8.onnx.json``."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(onnx_path.name + ".json")


@dataclass(frozen=True)
class ExportedHead:
    """Stands for the pair head of an exported model (the gallery asks only whether there is one)."""

    dim: int


class OnnxModel:
    """An ONNX export of a model (float32, fp16 or int8), run by ONNX Runtime on the CPU.

    Args:
        path: the embedding's ``.onnx`` file (or its ``.onnx.json`` description).
        threads: ONNX Runtime's intra-op threads (0: its default, every core).

    Raises:
        ModelFileError: a missing or corrupt file, or a file not written by ``siamese export``.
        ConfigError: onnxruntime is not installed.
    """

    def __init__(self, path: str | Path, *, threads: int = 0):
        path = Path(path)
        if path.name.endswith(".onnx.json"):
            path = path.with_name(path.name[: -len(".json")])
        meta = meta_path(path)
        for p in (path, meta):
            if not p.is_file():
                raise ModelFileError(
                    f"{p}: missing; pass an .onnx file written by `siamese export RUN_DIR "
                    "--format onnx` (it writes the .onnx.json description beside it)"
                )
        self.meta = read_json(meta, "export description", error=ModelFileError)
        try:
            if self.meta.get("format") != EXPORT_FORMAT:
                raise ValueError(f"format {self.meta.get('format')!r}, expected {EXPORT_FORMAT!r}")
            cfg = self.meta["model"]
            self.inputs = list(self.meta["inputs"])
            self.precision = str(self.meta["precision"])
            self.info = dict(cfg.get("info") or {})
            self.encoder_name = cfg["encoder"].get("name")
            self.encoder_args = dict(cfg["encoder"].get("args") or {})
            self.distance_name = str(cfg.get("distance", "euclidean"))
            self.distance = get_distance(self.distance_name)
            self.test_time_shift = int(cfg.get("test_time_shift", 0))  # inside the graph
            head = cfg.get("head")
            self.head = None if not head else ExportedHead(int(head["dim"]))
            head_file = self.meta.get("head")
        except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
            raise ModelFileError(
                f"{meta}: corrupt export description ({exc}); export the model again"
            ) from None
        self.path = path
        self.accepts_lengths = "lengths" in self.inputs
        # int8: without ONNX Runtime's QDQ propagation (siamese.compress.quantise's docstring)
        self._session = _session(path, threads, int8=self.precision == "int8")
        self._head_session = None
        if self.head is not None:
            if not head_file or not (path.parent / head_file).is_file():
                raise ModelFileError(
                    f"{meta}: the model has a pair head but its file {head_file!r} is missing "
                    "beside the export; export the model again"
                )
            self._head_session = _session(path.parent / head_file, threads)

    def embed(
        self,
        x: np.ndarray | torch.Tensor,
        lengths: np.ndarray | torch.Tensor | None = None,
        *,
        batch_size: int = 256,
        flip: bool = False,
    ) -> torch.Tensor:
        """Embeddings ``(N, D)`` float32 of raw items ``(N, *item_shape)`` (as ``SiameseModel``).

        Raises:
            ConfigError: ``flip`` (the exported graph has the model's saved views only).
        """
        if flip:
            raise ConfigError(
                "flip: an export embeds the model's saved test-time views only; use the library"
            )
        x = np.asarray(x, dtype=np.float32)
        out = []
        for i in range(0, len(x), batch_size):
            feed = {"items": x[i : i + batch_size]}  # (b, *item_shape)
            if self.accepts_lengths:
                T = x.shape[1]
                lens = (
                    np.full(len(feed["items"]), T)
                    if lengths is None
                    else lengths[i : i + batch_size]
                )
                feed["lengths"] = np.maximum(np.asarray(lens), 1).astype(np.int64)  # (b,)
            out.append(self._session.run(None, feed)[0])  # (b, D)
        if not out:
            return torch.empty(0, 0)
        return torch.from_numpy(np.concatenate(out).astype(np.float32))

    def embed_dataset(
        self, dataset: Any, *, batch_size: int = 256, flip: bool = False
    ) -> np.ndarray:
        """Embed every item of a ``LabeledDataset``, batch by batch."""
        chunks = []
        for start in range(0, len(dataset), batch_size):
            idx = np.arange(start, min(start + batch_size, len(dataset)))
            lens = None if dataset.lengths is None else dataset.lengths[idx]
            chunks.append(self.embed(dataset.load(idx), lens, flip=flip).numpy())
        if not chunks:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(chunks)

    def similarity(self, e1: Any, e2: Any) -> torch.Tensor:
        """Row-wise similarity, higher = more alike: the pair head's probability, else the
        negated distance (as ``SiameseModel.similarity``)."""
        e1 = torch.as_tensor(np.asarray(e1, dtype=np.float32))
        e2 = torch.as_tensor(np.asarray(e2, dtype=np.float32))
        if self._head_session is None:
            return -self.distance.pairwise(e1, e2)
        if len(e1) == 0:
            return torch.empty(0)
        p = self._head_session.run(None, {"e1": e1.numpy(), "e2": e2.numpy()})[0]  # (N,)
        return torch.from_numpy(np.asarray(p, dtype=np.float32))

    def eval(self) -> OnnxModel:
        return self

    def check_made_from(self, model: Any, where: str | Path) -> None:
        """Refuse to stand in for ``model`` (e.g. a gallery's) unless exported from its weights.

        Raises:
            ConfigError: the export records other weights (or none).
        """
        if self.meta.get("weights_digest") != weights_digest(model):
            raise ConfigError(
                f"--model {self.path}: exported from other weights than the model of {where}; "
                f"export that model (siamese export {where} --format onnx --precision "
                f"{self.precision}) or enroll the gallery with the run the export was made from"
            )

    def save(self, directory: str | Path) -> Path:
        raise ConfigError(
            f"{self.path}: an ONNX export is served, not saved into a gallery; enroll with the "
            "run folder (siamese enroll RUN_DIR ...) and serve with --model EXPORT"
        )


def serving_model(export: str | Path, gallery_dir: str | Path, *, threads: int = 0) -> OnnxModel:
    """The export ``export``, checked to be of the model the gallery folder was enrolled with.

    Raises:
        ModelFileError: a broken export or gallery folder.
        ConfigError: an export of other weights.
    """
    from siamese.gallery import find_model_dir
    from siamese.model import SiameseModel

    onnx = OnnxModel(export, threads=threads)
    onnx.check_made_from(SiameseModel.load(find_model_dir(gallery_dir)), gallery_dir)
    return onnx


def _session(path: Path, threads: int, *, int8: bool = False) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(
            "serving an ONNX export needs onnxruntime: pip install 'siamese[export]'"
        ) from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: fp16 graphs log a note per unfoldable node
    if threads > 0:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    try:
        from siamese.compress.quantise import SESSION_DISABLED_OPTIMIZERS

        disabled = SESSION_DISABLED_OPTIMIZERS if int8 else []
        return ort.InferenceSession(
            str(path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
        )
    except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelFileError(
            f"{path}: not a readable ONNX model ({first}); export the model again"
        ) from None
