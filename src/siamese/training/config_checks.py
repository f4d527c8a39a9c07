"""Range and cross-field checks of a run config: every error found, one line each.

``from_dict`` checks keys, types and choices; this module checks what a type cannot say:
ranges (``training.epochs >= 1``), NaN and infinity, fields that constrain each other
(``val_fraction + test_fraction < 1``), the encoder's own arguments in ``[model]``, paths that
must stay inside their folder (``name``), and, once the data is read, the classes each split
offers (``evaluation.n_way``). Every message names the key, the value and the valid range; all
errors of a config are raised together in one ``ConfigError``, one line each.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from siamese._range import AT_LEAST_0, AT_LEAST_1, AT_LEAST_2, FRACTION, POSITIVE, UNIT, Range
from siamese.errors import ConfigError

# The valid range of every numeric field of every config section (a test checks that none is
# missing). Strings and booleans are checked by type and ``CHOICES`` in ``config.from_dict``.
RULES: dict[str, Range] = {
    "seed": AT_LEAST_0,
    "data.val_fraction": FRACTION,
    "data.test_fraction": FRACTION,
    "data.crop": AT_LEAST_0,
    "data.val_fold": Range(-1),
    "objective.margin": POSITIVE,
    "objective.alpha": POSITIVE,
    "objective.beta": POSITIVE,
    "objective.base": Range(-1, 1),
    "sampling.batch_size": AT_LEAST_2,
    "sampling.p": AT_LEAST_2,
    "sampling.k": AT_LEAST_2,
    "sampling.group": AT_LEAST_0,
    "sampling.pool": AT_LEAST_1,
    "sampling.per_class": AT_LEAST_1,
    "mining.threshold": UNIT,
    "mining.growth": POSITIVE,
    "mining.midpoint": UNIT,
    "mining.cycles": AT_LEAST_1,
    "mining.refresh_every": AT_LEAST_0,
    "mining.margin": POSITIVE,
    "training.epochs": AT_LEAST_1,
    "training.steps_per_epoch": AT_LEAST_1,
    "training.learning_rate": POSITIVE,
    "training.weight_decay": AT_LEAST_0,
    "training.dense_weight_decay": Range(-1, None),  # -1: off (build_optimizer refuses -1 < x < 0)
    "training.momentum": FRACTION,
    "training.grad_clip": AT_LEAST_0,
    "training.freeze_backbone_epochs": AT_LEAST_0,
    "training.backbone_lr_scale": POSITIVE,
    "training.layer_decay": Range(0, 1, lo_open=True),
    "training.min_delta": AT_LEAST_0,
    "training.patience": AT_LEAST_0,
    "training.val_batches": AT_LEAST_1,
    "training.snapshot_items": AT_LEAST_0,
    "training.threads": AT_LEAST_0,
    "evaluation.n_way": AT_LEAST_2,
    "evaluation.k_shot": AT_LEAST_1,
    "evaluation.episodes": AT_LEAST_1,
    "evaluation.val_episodes": AT_LEAST_1,
    "evaluation.pairs": AT_LEAST_2,
    "evaluation.test_time_shift": AT_LEAST_0,
}

# Words a numeric field may hold instead of a number (another part of the library reads them).
WORDS: dict[str, tuple[str, ...]] = {"objective.margin": ("auto",)}

# The valid range of an encoder argument, by name, for every encoder that takes it (a sequence
# such as ``channels = [64, 128]`` is checked element by element).
ENCODER_RULES: dict[str, Range] = {
    "embedding_dim": AT_LEAST_1,
    "hidden_size": AT_LEAST_1,
    "num_layers": AT_LEAST_1,
    "channels": AT_LEAST_1,
    "widths": AT_LEAST_1,
    "kernels": AT_LEAST_1,
    "dense": AT_LEAST_1,
    "hidden": AT_LEAST_1,
    "dropout": FRACTION,
    "input_dropout": FRACTION,
    "input_swap": FRACTION,
    "spectrum": AT_LEAST_0,
    "fixed_features": AT_LEAST_0,
    "max_length": AT_LEAST_0,
    "dense_init_std": POSITIVE,
    "padding": AT_LEAST_0,  # face_aligned: dlib's chip padding, and two shares of the side
    "landmark_box": Range(0, 1, lo_open=True),
    "fallback_crop": Range(0, 1, lo_open=True),
}


def check_config(cfg: Any) -> None:
    """Check a whole ``RunConfig`` (ranges, cross-field rules, encoder arguments, run name).

    Raises:
        ConfigError: every error found, one line each.
    """
    raise_all(config_errors(cfg))


def config_errors(cfg: Any) -> list[str]:
    """Every range and cross-field error of a ``RunConfig``, one line each (empty: valid)."""
    errors = []
    for key, default, _ in dataclass_fields(type(cfg)):
        value = _get(cfg, key)
        if key in RULES and value is not None and value not in WORDS.get(key, ()):
            errors += [
                f"{e} (default {default!r})"
                for e in _range_error(key, value, RULES[key], isinstance(value, int))
            ]
    errors += run_path_errors(cfg.name, cfg.out_dir)
    errors += _cross_field_errors(cfg)
    errors += encoder_arg_errors(cfg.model.encoder, cfg.model.args)
    return errors


def dataclass_fields(cls: type, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, default, help) of every field of a config dataclass, nested sections flattened to
    dotted keys (a section's extra-arguments field, ``_extra``, left out)."""
    rows = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        typ = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(typ):
            rows += dataclass_fields(typ, key + ".")
        elif f.name != getattr(cls, "_extra", None):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            rows.append((key, default, f.metadata.get("help", "")))
    return rows


def raise_all(errors: list[str]) -> None:
    """Raise one ``ConfigError`` holding every error (one per line); nothing when empty."""
    if errors:
        raise ConfigError("\n".join(errors))


def _get(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _range_error(key: str, value: Any, rule: Range, integer: bool) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        words = " or ".join(repr(w) for w in WORDS.get(key, ()))
        alt = f" or {words}" if words else ""
        return [f"config key {key!r} = {value!r}: expected {rule.describe(integer)}{alt}"]
    if rule.contains(value):
        return []
    return [f"config key {key!r} = {value!r}: expected {rule.describe(integer)}"]


def run_path_errors(name: str, out_dir: str, label: str = "config key 'name'") -> list[str]:
    """``name`` must name a folder inside ``out_dir``; ``out_dir`` must be (or become) a folder.

    ``label`` names where ``name`` came from in the message (``--name`` for a command option).
    """
    errors = []
    parts = PurePath(name).parts
    if not name.strip() or PurePath(name).is_absolute() or ".." in parts or set(parts) <= {"."}:
        errors.append(
            f"{label} = {name!r}: expected a relative folder name inside out_dir "
            "(no '..', not absolute, not empty), e.g. name = \"faces\""
        )
    if not out_dir.strip():
        errors.append("config key 'out_dir' = '': expected a folder, e.g. out_dir = \"runs\"")
        return errors
    path = Path(out_dir)
    for folder in (path, *path.parents):  # the nearest existing one must be a folder
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                errors.append(
                    f"config key 'out_dir' = {out_dir!r}: {folder} is a file, not a folder; "
                    "set out_dir to a folder (it is created when missing)"
                )
            break
    return errors


def _cross_field_errors(cfg: Any) -> list[str]:
    errors = []
    d, s = cfg.data, cfg.sampling
    if (
        d.split == "classes"
        and _in(FRACTION, d.val_fraction, d.test_fraction)  # each alone is reported above
        and d.val_fraction + d.test_fraction >= 1
    ):
        errors.append(
            f"config keys 'data.val_fraction' + 'data.test_fraction' = "
            f"{d.val_fraction:g} + {d.test_fraction:g}: expected a sum < 1 (training needs classes)"
        )
    folds = round(1 / d.val_fraction) if _in(FRACTION, d.val_fraction) and d.val_fraction else 0
    if (
        isinstance(d.val_fold, int)
        and d.val_fold >= 0
        and not (d.split == "protocol" and d.val_split == "items" and d.val_fold < folds)
    ):
        errors.append(
            f"config key 'data.val_fold' = {d.val_fold}: a fold needs data.split = 'protocol', "
            f"data.val_split = 'items' and a fold number below round(1 / data.val_fraction) = "
            f"{folds}; use -1 for a random held-out share"
        )
    enc = cfg.model.encoder
    # (face_resnet from a folder: init_from's own check compares with the folder's normaliser)
    if enc in ("hf_vision", "face_aligned") and d.normalise != "none":
        errors.append(
            f"config key 'data.normalise' = {d.normalise!r}: {enc} takes 0-255 pixels and "
            "applies its own preprocessing (the pretrained network's mean/std); set "
            'data.normalise = "none" (a second normalisation would move the pretrained inputs)'
        )
    if isinstance(s.group, int) and s.group == 1:
        errors.append(
            "config key 'sampling.group' = 1: expected 0 (classes at random) or a group of >= 2 "
            "look-alike classes"
        )
    if s.group >= 2 and s.pool < s.group - 1:
        errors.append(
            f"config key 'sampling.pool' = {s.pool}: expected >= sampling.group - 1 = "
            f"{s.group - 1} (a group is a seed class and group - 1 classes of its pool)"
        )
    return errors


def _in(rule: Range, *values: float) -> bool:
    return all(isinstance(v, (int, float)) and rule.contains(v) for v in values)


def encoder_arg_errors(encoder: str, args: dict[str, Any]) -> list[str]:
    """Type and range errors of an encoder's ``[model]`` arguments (unknown ones are left to
    ``create_encoder``, which lists the valid ones)."""
    from siamese.encoders._registry import _ENCODERS

    fn = _ENCODERS.get(encoder)
    if fn is None:
        return []  # create_encoder names the valid encoders
    hints = typing.get_type_hints(fn)
    errors = []
    for name, value in args.items():
        if name not in hints or name == "input_shape":
            continue
        key = f"model.{name}"
        if not _matches(value, hints[name]):
            errors.append(
                f"config key {key!r} = {value!r}: expected {_type_words(hints[name])} "
                f"({encoder} argument, see `siamese encoders`)"
            )
            continue
        rule = ENCODER_RULES.get(name)
        if rule is None or value is None or isinstance(value, (bool, str)):
            continue
        many = isinstance(value, Sequence)
        for v in value if many else [value]:
            if not rule.contains(v):
                got = f" (element {v!r})" if many else ""
                integer = _is_integer(hints[name])
                errors.append(
                    f"config key {key!r} = {value!r}{got}: expected "
                    f"{rule.describe(integer)}{' each' if many else ''}"
                )
                break
    return errors


def _matches(value: Any, hint: Any) -> bool:
    """Whether a config value (TOML/YAML data) fits an encoder argument's annotation."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list, Sequence) or hint in (tuple, list):
        inner = [a for a in typing.get_args(hint) if a is not Ellipsis] or [Any]
        return isinstance(value, (list, tuple)) and all(_matches(v, inner[0]) for v in value)
    return True  # an annotation this check does not know: the encoder checks it


def _type_words(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_words(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "none (leave it out)"
    if origin in (tuple, list, Sequence):
        inner = [a for a in typing.get_args(hint) if a is not Ellipsis] or [Any]
        plural = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}
        return f"a list of {plural.get(inner[0], str(inner[0]))}"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        hint, str(hint)
    )


def _is_integer(hint: Any) -> bool:
    """Whether an annotation takes integers only (``int``, ``tuple[int, ...]``, ``int | None``)."""
    words = repr(hint)
    return "int" in words and "float" not in words


def data_errors(
    cfg: Any,
    parts: dict[str, Any],
    *,
    splits: Sequence[str] = ("test", "val"),
    option: str | None = None,
) -> list[str]:
    """Errors only the data can show: an explicit ``evaluation.n_way`` beyond the classes of the
    test and validation splits that have ``k_shot + 1`` items (a support set and a query).

    A left-out ``n_way`` (None) is never an error: it means as many classes as the split has,
    up to ``DEFAULT_N_WAY``. ``option`` names the command option the value came from
    (``--n-way`` of ``siamese evaluate``) instead of the config key.
    """
    from siamese.evaluation.model_evaluation import DEFAULT_N_WAY

    ev = cfg.evaluation
    if ev.n_way is None:
        return []
    label = f"{option} {ev.n_way}" if option else f"config key 'evaluation.n_way' = {ev.n_way}"
    setting = f"pass {option}" if option else "set evaluation.n_way"
    left_out = (
        "the run's config" if option else f"as many classes as the split has, up to {DEFAULT_N_WAY}"
    )
    errors = []
    for name in splits:
        part = parts.get(name)
        if part is None or not len(part):
            continue
        _, counts = np.unique(part.labels, return_counts=True)
        eligible = int((counts >= ev.k_shot + 1).sum())
        if ev.n_way > eligible:
            lower = f"{setting} <= {eligible}, " if eligible >= 2 else ""
            errors.append(
                f"{label}: the {name} split has only {eligible} classes with >= "
                f"{ev.k_shot + 1} items (k_shot + 1) of its {len(counts)}; {lower}leave it out "
                f"({left_out}), or give the {name} split more classes"
            )
    return errors
