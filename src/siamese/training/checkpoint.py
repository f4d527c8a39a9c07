"""Checkpoints: model, optimizer and loop state as safetensors + JSON (never pickle), one atomic unit.

A checkpoint ``checkpoints/last`` is two files:

* ``last-<sha256[:16]>.safetensors``: the tensors (model weights, optimizer moments), named by
  their content hash, so a new checkpoint never overwrites the file the current one names;
* ``last.json``: the manifest, written last by an atomic rename: the tensors file's name, size and
  SHA-256, the optimizer, scheduler and loop state, and the SHA-256 of that state.

Replacing the manifest is the commit point: a kill at any moment leaves the old manifest and the
tensors it names, or the new ones, never a mix. Both files are flushed to disk before the rename.
Loading checks the hashes and restores every optimizer tensor in the memory layout of its
parameter (channels-last conv weights get channels-last Adam moments), so a resumed run takes
exactly the steps the uninterrupted one takes. Checkpoints of the previous format
(``last.safetensors`` + ``last.json`` without a manifest) still load when their two halves agree.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, load_file, save

from siamese._io import atomic_write_bytes, atomic_write_json, canonical_json
from siamese.errors import ModelFileError

FORMAT = 2  # the manifest's "format"; files without one are the previous, two-file format
_FRESH = "start the run again with --overwrite"


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for pid, entry in state["state"].items():
        plain["state"][str(pid)] = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{pid}.{key}"] = value.detach().contiguous().clone()
                plain["state"][str(pid)][key] = {"tensor": f"optim.{pid}.{key}"}
            else:
                plain["state"][str(pid)][key] = value
    return tensors, plain


def _in_layout_of(param: torch.Tensor | None, value: torch.Tensor) -> torch.Tensor:
    """``value`` in ``param``'s memory layout when it has the parameter's shape.

    Files hold contiguous tensors; ``torch.optim`` creates moments with ``zeros_like(param)``
    (the parameter's layout) and ``load_state_dict`` keeps whatever layout it is given.
    """
    if param is None or value.shape != param.shape:
        return value
    return torch.empty_like(param, dtype=value.dtype).copy_(value)


def _unflatten_optimizer(
    plain: dict[str, Any], tensors: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    # saved ids map to the optimizer's parameters in order, as Optimizer.load_state_dict maps them
    saved_ids = [pid for group in plain["param_groups"] for pid in group["params"]]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    param_of = dict(zip(saved_ids, params, strict=False))  # load_state_dict checks the sizes
    state = {}
    for pid, entry in plain["state"].items():
        param = param_of.get(int(pid))
        state[int(pid)] = {
            k: _in_layout_of(param, tensors[v["tensor"]])
            if isinstance(v, dict) and "tensor" in v
            else v
            for k, v in entry.items()
        }
    return {"state": state, "param_groups": plain["param_groups"]}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loop_state: dict[str, Any],
) -> None:
    """Write the checkpoint ``path`` (e.g. ``checkpoints/last``) as one atomic unit.

    The tensors go to a new file named by their hash, then the manifest ``path.json`` naming it
    replaces the old one (the commit), then tensor files no manifest names are removed.
    """
    path = Path(path)
    tensors = {f"model.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    opt_tensors, opt_plain = _flatten_optimizer(optimizer.state_dict())
    tensors.update(opt_tensors)
    data = save(tensors)
    digest = _sha256(data)
    name = f"{path.name}-{digest[:16]}.safetensors"
    atomic_write_bytes(path.parent / name, data, fsync=True)
    state = {
        "optimizer": opt_plain,
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "loop": loop_state,
    }
    state = json.loads(canonical_json(state))  # what the manifest will hold, as plain JSON
    manifest = {
        "format": FORMAT,
        "tensors": name,
        "tensors_bytes": len(data),
        "tensors_sha256": digest,
        "state_sha256": _sha256(canonical_json(state).encode("utf-8")),
        **state,
    }
    atomic_write_json(path.with_suffix(".json"), manifest, fsync=True)  # the commit point
    legacy = f"{path.name}.safetensors"  # the previous format's tensors file
    for old in path.parent.glob(f"{path.name}*.safetensors"):
        if old.name != name and (old.name == legacy or _is_tensor_name(path, old.name)):
            old.unlink(missing_ok=True)  # an older checkpoint's, or one a kill left uncommitted
    for tmp in path.parent.glob(f".{path.name}[-.]*.tmp"):
        tmp.unlink(missing_ok=True)  # half-written by a killed write (one writer per run)


def _is_tensor_name(path: Path, name: str) -> bool:
    """``name`` is one of checkpoint ``path``'s hash-named tensor files (a plain file name)."""
    prefix, suffix = f"{path.name}-", ".safetensors"
    stem = name[len(prefix) : -len(suffix)]
    return (
        name.startswith(prefix)
        and name.endswith(suffix)
        and len(stem) == 16
        and all(c in "0123456789abcdef" for c in stem)
    )


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> dict[str, Any]:
    """Verify the checkpoint ``path``, restore model, optimizer and scheduler; return the loop state.

    Raises:
        ModelFileError: a missing, damaged or inconsistent checkpoint, or one that does not fit
            ``model`` (one line naming the file and the fix).
    """
    path = Path(path)
    manifest_file = path.with_suffix(".json")
    try:
        meta = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{manifest_file}: unreadable checkpoint manifest ({exc}); {_FRESH}"
        ) from None
    if not isinstance(meta, dict) or not {"optimizer", "loop"} <= set(meta):
        raise ModelFileError(
            f"{manifest_file}: not a checkpoint manifest (expected the keys optimizer and loop); "
            f"{_FRESH}"
        )
    if "format" in meta:
        tensors = _verified_tensors(path, manifest_file, meta)
    else:
        tensors = _legacy_tensors(path, meta)
    _restore(manifest_file, meta, tensors, model, optimizer, scheduler)
    return meta["loop"]


def _verified_tensors(path: Path, manifest_file: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The tensors of a manifest-format checkpoint, after checking every hash it records."""
    if meta["format"] != FORMAT:
        raise ModelFileError(
            f"{manifest_file}: checkpoint format {meta['format']!r}, this version reads format "
            f"{FORMAT}; resume with the version that wrote it, or {_FRESH}"
        )
    state = {k: meta.get(k) for k in ("optimizer", "scheduler", "loop")}
    if _sha256(canonical_json(state).encode("utf-8")) != meta.get("state_sha256"):
        raise ModelFileError(
            f"{manifest_file}: the loop and optimizer state does not match its recorded SHA-256 "
            f"(the manifest was changed after it was written); {_FRESH}"
        )
    name = str(meta.get("tensors", ""))
    if not _is_tensor_name(path, name):
        raise ModelFileError(
            f"{manifest_file}: tensors {name!r} is not a tensor file of this checkpoint (expected "
            f"{path.name}-<16 hex digits>.safetensors beside it); {_FRESH}"
        )
    file = path.parent / name
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            f"{file}: the checkpoint's tensors are unreadable ({exc.strerror or exc}); {_FRESH}"
        ) from None
    if len(data) != meta.get("tensors_bytes") or _sha256(data) != meta.get("tensors_sha256"):
        raise ModelFileError(
            f"{file}: {len(data)} bytes that do not match the {meta.get('tensors_bytes')} bytes "
            f"and SHA-256 its manifest {manifest_file.name} records (damaged after it was "
            f"written); {_FRESH}"
        )
    try:
        return load(data)
    except SafetensorError as exc:  # hashed as written, so written by something else
        raise ModelFileError(f"{file}: not a safetensors file ({exc}); {_FRESH}") from None


def _legacy_tensors(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The tensors of a previous-format checkpoint, checked against its JSON half.

    That format wrote ``last.safetensors`` and then ``last.json``: a kill between the two left
    tensors one epoch ahead of the loop state. Adam's step counts (in the tensors) then disagree
    with the loop's ``global_step`` (in the JSON).
    """
    file = path.with_suffix(".safetensors")
    try:
        tensors = load_file(str(file))
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelFileError(f"{file}: unreadable checkpoint ({exc}); {_FRESH}") from None
    steps = {
        int(t.item())
        for k, t in tensors.items()
        if k.startswith("optim.") and k.endswith(".step") and t.numel() == 1
    }
    want = meta["loop"].get("global_step")
    if steps and steps != {want}:
        raise ModelFileError(
            f"{file}: tensors from optimizer step {max(steps)} but {path.with_suffix('.json').name} "
            f"from step {want} (an old-format checkpoint interrupted between its two files); "
            f"{_FRESH}"
        )
    return tensors


def _restore(
    manifest_file: Path,
    meta: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> None:
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        optimizer.load_state_dict(_unflatten_optimizer(meta["optimizer"], tensors, optimizer))
        if scheduler is not None and meta.get("scheduler") is not None:
            scheduler.load_state_dict(meta["scheduler"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{manifest_file}: the checkpoint does not fit this run's model and optimizer "
            f"({first}); resume with the config the run started with, or {_FRESH}"
        ) from None


def save_weights(path: Path, model: torch.nn.Module) -> None:
    atomic_write_bytes(
        path, save({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()})
    )


def load_weights(path: Path, model: torch.nn.Module) -> None:
    try:
        model.load_state_dict(load_file(str(path)))
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{path}: unreadable or mismatched weights ({first}); {_FRESH}"
        ) from None
