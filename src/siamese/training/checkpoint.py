"""Checkpoints: model, optimizer and loop state as safetensors + JSON (never pickle), one atomic unit.

A checkpoint ``checkpoints/last`` is two or three files:

* ``last-<sha256[:16]>.safetensors``: the tensors (model weights, optimizer moments), named by
  their content hash, so a new checkpoint never overwrites the file the current one names;
* ``best-<sha256[:16]>.safetensors``: the weights of the best epoch so far (early stopping's
  restore_best), hash-named the same way;
* ``last.json``: the manifest, written last by an atomic rename: both files' names, sizes and
  SHA-256, the optimizer, scheduler and loop state, and the SHA-256 of that state.

Replacing the manifest is the commit point: a kill at any moment leaves the old manifest and the
files it names, or the new ones, never a mix (a best file always belongs to its loop state).
Every file is flushed to disk before the rename. Loading checks the hashes (the best weights'
too, on resume and when they are restored) and restores every optimizer tensor in the memory
layout of its parameter (channels-last conv weights get channels-last Adam moments), so a
resumed run takes exactly the steps the uninterrupted one takes. Older checkpoints still load:
format 2 (a manifest without best weights, ``best.safetensors`` beside it) and the two-file
format (``last.safetensors`` + ``last.json`` without a manifest) when its two halves agree; the
next checkpoint takes such a ``best.safetensors`` into its manifest.
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

FORMAT = 3  # the manifest's "format"; files without one are the first, two-file format
READS = (2, 3)  # format 2: the same manifest without best weights (best.safetensors beside it)
LEGACY_BEST = "best.safetensors"  # where format 2 and the two-file format kept the best weights
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


def weights_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s weights as a checkpoint stores them (contiguous, detached)."""
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loop_state: dict[str, Any],
    *,
    best: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write the checkpoint ``path`` (e.g. ``checkpoints/last``) as one atomic unit.

    The tensors (and ``best``, new best weights from :func:`weights_of`) go to new files named
    by their hash, then the manifest ``path.json`` naming them replaces the old one (the
    commit), then files no manifest names are removed. Without ``best`` the manifest keeps the
    best weights the previous one names.
    """
    path = Path(path)
    tensors = {f"model.{k}": v for k, v in weights_of(model).items()}
    opt_tensors, opt_plain = _flatten_optimizer(optimizer.state_dict())
    tensors.update(opt_tensors)
    data = save(tensors)
    digest = _sha256(data)
    name = f"{path.name}-{digest[:16]}.safetensors"
    atomic_write_bytes(path.parent / name, data, fsync=True)
    if best is not None:
        best_data = save(best)
        best_entry = _file_entry(f"best-{_sha256(best_data)[:16]}.safetensors", best_data)
        atomic_write_bytes(path.parent / best_entry["file"], best_data, fsync=True)
    else:
        best_entry = _previous_best(path)
    state = {
        "optimizer": opt_plain,
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "loop": loop_state,
        "best": best_entry,
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
    named = {name, (best_entry or {}).get("file")}
    legacy = f"{path.name}.safetensors"  # the two-file format's tensors file
    for old in path.parent.glob("*.safetensors"):
        ours = old.name == legacy or _is_tensor_name(path.name, old.name)
        if old.name not in named and (ours or _is_tensor_name("best", old.name)):
            old.unlink(missing_ok=True)  # an older checkpoint's, or one a kill left uncommitted
    if LEGACY_BEST not in named:
        (path.parent / LEGACY_BEST).unlink(missing_ok=True)  # superseded by a hash-named one
    for pattern in (f".{path.name}[-.]*.tmp", ".best-*.tmp"):
        for tmp in path.parent.glob(pattern):
            tmp.unlink(missing_ok=True)  # half-written by a killed write (one writer per run)


def _file_entry(file: str, data: bytes) -> dict[str, Any]:
    return {"file": file, "bytes": len(data), "sha256": _sha256(data)}


def _previous_best(path: Path) -> dict[str, Any] | None:
    """The best-weights entry the current manifest of ``path`` names; for a checkpoint of an
    older format, an entry for the ``best.safetensors`` beside it (None: no best weights)."""
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        meta = None
    if isinstance(meta, dict) and meta.get("format") == FORMAT:
        return meta.get("best")
    try:
        data = (path.parent / LEGACY_BEST).read_bytes()
    except OSError:
        return None
    return _file_entry(LEGACY_BEST, data)


def _is_tensor_name(stem_of: str, name: str) -> bool:
    """``name`` is a hash-named tensor file ``<stem_of>-<16 hex>.safetensors`` (a plain name)."""
    prefix, suffix = f"{stem_of}-", ".safetensors"
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

    The best weights the manifest names are verified too (read, sized and hashed), so a resumed
    run never ends on best weights that do not belong to its state.

    Raises:
        ModelFileError: a missing, damaged or inconsistent checkpoint, or one that does not fit
            ``model`` (one line naming the file and the fix).
    """
    manifest_file, meta, tensors = _checked(Path(path))
    _restore(manifest_file, meta, tensors, model, optimizer, scheduler)
    return meta["loop"]


def _checked(path: Path) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor]]:
    """The manifest file, its content and the tensors of checkpoint ``path``, every hash checked
    (the best weights' too)."""
    manifest_file, meta = _manifest(path)
    if "format" not in meta:
        return manifest_file, meta, _legacy_tensors(path, meta)
    tensors = _verified_file(path.parent, manifest_file, meta, _tensors_entry(meta))
    if meta.get("best"):
        _verified_file(path.parent, manifest_file, meta, meta["best"])
    return manifest_file, meta, tensors


def verify_checkpoint(path: Path) -> None:
    """Check the checkpoint ``path`` whole (manifest, state hash, every file it names, their
    sizes and SHA-256) without a model: what ``--resume`` does before it touches the run folder.

    Raises:
        ModelFileError: as ``load_checkpoint``, for everything but the fit to a model.
    """
    _checked(Path(path))


def load_best(path: Path, model: torch.nn.Module) -> bool:
    """Load the best weights checkpoint ``path`` records into ``model``, verified against the
    manifest's SHA-256 (checkpoints of older formats: the ``best.safetensors`` beside them).

    Returns:
        Whether there were best weights to load.

    Raises:
        ModelFileError: the manifest or the best weights are damaged, or do not fit ``model``.
    """
    path = Path(path)
    manifest_file, meta = _manifest(path)
    if meta.get("format") == FORMAT:
        if not meta.get("best"):
            return False
        weights = _verified_file(path.parent, manifest_file, meta, meta["best"])
        _load_weights_from(path.parent / meta["best"]["file"], weights, model)
        return True
    legacy = path.parent / LEGACY_BEST
    if not legacy.exists():
        return False
    load_weights(legacy, model)
    return True


def _manifest(path: Path) -> tuple[Path, dict[str, Any]]:
    """``path``'s manifest file and content; a manifest of a known format has its state hash
    checked."""
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
    if "format" not in meta:
        return manifest_file, meta  # the two-file format: checked against its tensors
    if meta["format"] not in READS:
        raise ModelFileError(
            f"{manifest_file}: checkpoint format {meta['format']!r}, this version reads formats "
            f"{', '.join(map(str, READS))}; resume with the version that wrote it, or {_FRESH}"
        )
    keys = ("optimizer", "scheduler", "loop", *(("best",) if meta["format"] >= 3 else ()))
    state = {k: meta.get(k) for k in keys}
    if _sha256(canonical_json(state).encode("utf-8")) != meta.get("state_sha256"):
        raise ModelFileError(
            f"{manifest_file}: the loop and optimizer state does not match its recorded SHA-256 "
            f"(the manifest was changed after it was written); {_FRESH}"
        )
    return manifest_file, meta


def _tensors_entry(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "file": meta.get("tensors"),
        "bytes": meta.get("tensors_bytes"),
        "sha256": meta.get("tensors_sha256"),
    }


def _verified_file(
    folder: Path, manifest_file: Path, meta: dict[str, Any], entry: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """The tensors of a file the manifest names (``entry``: file, bytes, sha256), after checking
    that it is one of this checkpoint's files and that its size and SHA-256 match."""
    name = str(entry.get("file", "")) if isinstance(entry, dict) else ""
    what = "tensors" if name == meta.get("tensors") else "best weights"
    stem = manifest_file.stem if what == "tensors" else "best"
    if not (_is_tensor_name(stem, name) or (what != "tensors" and name == LEGACY_BEST)):
        raise ModelFileError(
            f"{manifest_file}: {what} {name!r} is not a tensor file of this checkpoint (expected "
            f"{stem}-<16 hex digits>.safetensors beside it); {_FRESH}"
        )
    file = folder / name
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            f"{file}: the checkpoint's {what} are unreadable ({exc.strerror or exc}); {_FRESH}"
        ) from None
    if len(data) != entry.get("bytes") or _sha256(data) != entry.get("sha256"):
        raise ModelFileError(
            f"{file}: {len(data)} bytes that do not match the {entry.get('bytes')} bytes "
            f"and SHA-256 its manifest {manifest_file.name} records (damaged after it was "
            f"written); {_FRESH}"
        )
    try:
        return load(data)
    except SafetensorError as exc:  # hashed as written, so a file something else wrote
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
        raise ModelFileError(
            f"{manifest_file}: the checkpoint does not fit this run's model and optimizer "
            f"({_first_line(exc)}); resume with the config the run started with, or {_FRESH}"
        ) from None


def load_weights(path: Path, model: torch.nn.Module) -> None:
    """Load a weights file into ``model`` (a one-line ModelFileError when it does not fit)."""
    try:
        weights = load_file(str(path))
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelFileError(
            f"{path}: unreadable or mismatched weights ({_first_line(exc)}); {_FRESH}"
        ) from None
    _load_weights_from(path, weights, model)


def _load_weights_from(
    path: Path, weights: dict[str, torch.Tensor], model: torch.nn.Module
) -> None:
    try:
        model.load_state_dict(weights)
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path}: unreadable or mismatched weights ({_first_line(exc)}); {_FRESH}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
