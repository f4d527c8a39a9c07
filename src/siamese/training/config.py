"""Typed run configuration: TOML or YAML in, every field checked, saved with every run.

Each section is a dataclass; a field's ``help`` says what it means. Unknown keys are errors that
list the valid keys. The ``[data]`` and ``[model]`` tables also take the chosen reader's and
encoder's own options (checked against their signatures when the run starts).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from siamese.errors import ConfigError
from siamese.mining.schedules import list_schedules


def _f(default: Any, help: str) -> Any:
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DataConfig:
    """Where the examples come from. Other keys are the reader's options (``siamese data inspect``)."""

    source: str = _f(
        "traffic", "registered data source (reader) name, e.g. traffic, lfw, omniglot, ucr, csv"
    )
    split: str = _f(
        "classes", "'classes': class-disjoint split by ratio; 'protocol': the data's own split"
    )
    val_fraction: float = _f(0.2, "share of classes held out for validation (class-disjoint)")
    test_fraction: float = _f(0.2, "share of classes held out for the final test (class-disjoint)")
    val_split: str = _f(
        "auto", "how validation is held out of a protocol train part: auto, classes or items"
    )
    val_fold: int = _f(
        -1,
        "items held out of a protocol train part: -1, a random stratified val_fraction; k >= 0, "
        "fold k of round(1 / val_fraction) stratified folds (each item in exactly one fold)",
    )
    normalise: str = _f(
        "feature",
        "input normalisation fitted on train: none, global, feature, log_feature; series: each "
        "series z-normalised on its own",
    )
    augment: dict = _f(
        {},
        "training-batch augmentation: images {rotate, shift, scale, shear, flip, p}; "
        "series {jitter, scale, slice, p}; empty: none",
    )
    rotated_classes: bool = _f(
        False, "images: add each training class rotated by 90/180/270 degrees as new classes"
    )
    crop: int = _f(
        0, "images: keep the central crop x crop pixels, then resize to the reader's size"
    )
    options: dict = _f({}, "reader options (written as plain keys of [data])")

    _extra = "options"


@dataclass
class ModelConfig:
    """The shared encoder. Other keys are the encoder's arguments (``siamese encoders``)."""

    encoder: str = _f(
        "lstm",
        "registered encoder name (`siamese encoders` lists them), e.g. conv4, lstm, face_resnet",
    )
    init_from: str = _f(
        "",
        "a model folder (siamese import-weights, or a run) whose encoder weights start training "
        "(empty: random weights)",
    )
    args: dict = _f({}, "encoder arguments (written as plain keys of [model])")

    _extra = "args"


@dataclass
class ObjectiveConfig:
    """How distance becomes loss."""

    name: str = _f(
        "triplet", "koch_bce, contrastive, triplet, lossless_triplet or multi_similarity"
    )
    margin: float | str | None = _f(
        None,
        'margin of contrastive/triplet losses: a number, "auto" (measured on the untrained '
        "model: 0.2 x (triplet) or 1 x (contrastive) its median distance), or None (the loss's "
        "default)",
    )
    distance: str | None = _f(
        None, "euclidean, squared_euclidean or cosine (None: the loss's default)"
    )
    alpha: float | None = _f(None, "multi_similarity: sharpness over positives (None: 2)")
    beta: float | None = _f(None, "multi_similarity: sharpness over negatives (None: 50)")
    base: float | None = _f(
        None, "multi_similarity: cosine similarity between pulling and pushing (None: 0.5)"
    )


@dataclass
class SamplingConfig:
    """What the model sees each step."""

    kind: str = _f(
        "triplets",
        "pairs (50/50 same/different), triplets, pk (P classes x K items), or pair_list (the "
        "reader's listed pairs, e.g. LFW's train.txt, each once per epoch; data.val_fraction of "
        "them held out for validation; an epoch is one pass, so steps_per_epoch and val_batches "
        "are not used)",
    )
    batch_size: int = _f(32, "pairs or triplets per batch (kind = pairs/triplets)")
    p: int = _f(16, "classes per batch (kind = pk)")
    k: int = _f(4, "items per class per batch (kind = pk)")
    group: int = _f(
        0, "kind = pk: classes come in groups of this many look-alike classes (0: at random)"
    )
    pool: int = _f(32, "group = a seed class + classes drawn from its pool nearest classes")
    per_class: int = _f(2, "items per class embedded each epoch to place the class centroids")


@dataclass
class MiningConfig:
    """Which triplets: online in-batch miners or scheduled hardness sequencing."""

    strategy: str = _f(
        "none",
        "none; online: batch_hard, batch_all, semi_hard, scheduled (in-batch negatives at the hardness `schedule` gives); offline/sequenced: random, easiest, hardest, semi_hard_offline, linear, sine, tanh, logarithmic, sigmoid, cyclic_sigmoid, constant",
    )
    schedule: str = _f(
        "sigmoid",
        "strategy = scheduled: the hardness curve (linear, sine, tanh, logarithmic, sigmoid, constant, cyclic_<curve>)",
    )
    threshold: float = _f(0.5, "hardness the schedule rises to (sigmoid carrying capacity)")
    growth: float = _f(10.0, "sigmoid growth rate")
    midpoint: float = _f(0.5, "sigmoid midpoint, as a fraction of training")
    cycles: int = _f(1, "cycles of the schedule over training (cyclic_sigmoid)")
    refresh_every: int = _f(
        0, "re-embed the training set every K steps for re-mining (0: once per epoch)"
    )
    margin: float | None = _f(None, "semi-hard margin (None: the objective's margin)")


@dataclass
class TrainingConfig:
    """The optimisation loop."""

    epochs: int = _f(10, "maximum number of epochs")
    steps_per_epoch: int = _f(50, "batches per epoch")
    optimizer: str = _f("adam", "adam, adamw or sgd")
    learning_rate: float = _f(1e-3, "learning rate")
    weight_decay: float = _f(0.0, "L2 weight decay")
    dense_weight_decay: float = _f(
        -1.0,
        "L2 weight decay of the dense (linear) layers' weights, the other weights keeping "
        "weight_decay and biases none (Koch et al.'s per-layer regularisation; -1: off, every "
        "parameter gets weight_decay)",
    )
    momentum: float = _f(0.9, "momentum (sgd only)")
    lr_schedule: str = _f("none", "none or cosine (decays to 1% over the epochs)")
    grad_clip: float = _f(0.0, "clip the gradient norm at this value (0: off)")
    freeze_backbone_epochs: int = _f(
        0,
        "fine-tuning: the first n epochs train only the encoder's head (its last layer group) "
        "and the pair head, the backbone frozen; then everything (encoders with layer groups: "
        "face_resnet, face_aligned, hf_vision)",
    )
    backbone_lr_scale: float = _f(
        1.0, "fine-tuning: the backbone's learning rate as a share of learning_rate (e.g. 0.1)"
    )
    layer_decay: float = _f(
        1.0,
        "fine-tuning: each backbone layer group one step further from the head learns this "
        "factor slower (layer-wise decay, e.g. 0.8; 1: off)",
    )
    early_stopping: bool = _f(True, "stop when the monitored metric stops improving")
    monitor: str = _f("val_loss", "metric to monitor: val_loss, val_accuracy or val_auc")
    min_delta: float = _f(0.0, "smallest change that counts as an improvement")
    patience: int = _f(5, "epochs without improvement before stopping")
    restore_best: bool = _f(True, "end with the weights of the best epoch")
    val_batches: int = _f(10, "validation batches per epoch (fixed, the same every epoch)")
    on_collapse: str = _f(
        "recover",
        "when the embedding collapses (checked on the training batches every epoch): recover "
        "(roll back to the last healthy epoch, lower the learning rate, restart the hardness "
        "easy), warn, or stop",
    )
    snapshot_items: int = _f(
        300, "validation items whose embeddings are saved each epoch (0: none)"
    )
    progress: bool = _f(True, "show a progress bar")
    threads: int = _f(0, "torch intra-op threads (0: torch's default)")
    precision: str = _f(
        "float32",
        "training steps' forward pass: float32, or bfloat16 (autocast; faster on CPUs with "
        "AMX/AVX-512 BF16 and on GPUs; weights, loss and evaluation stay float32)",
    )
    device: str = _f(
        "auto",
        "where training and the run's evaluation run: auto (CUDA when torch sees a GPU, else "
        "the CPU), cpu, or cuda (refused when there is no GPU); siamese.training.device",
    )


@dataclass
class EvaluationConfig:
    """The one-shot evaluation on held-out classes after training (and each epoch on validation)."""

    n_way: int | None = _f(None, "classes per episode (None: as many as the split has, up to 5)")
    k_shot: int = _f(1, "examples per class in the support set")
    episodes: int = _f(300, "episodes for the test evaluation")
    val_episodes: int = _f(100, "episodes for the per-epoch validation accuracy")
    pairs: int = _f(2000, "pairs for verification accuracy, ROC AUC and EER")
    test_time_shift: int = _f(
        0, "images: the saved model embeds the mean over all shifts of up to this many pixels"
    )


@dataclass
class RunConfig:
    """A whole run: ``runs/<name>/`` gets the model, metrics, checkpoints and report."""

    name: str = _f("run", "run name: the run folder is <out_dir>/<name>")
    seed: int = _f(0, "one seed for Python, NumPy and torch")
    out_dir: str = _f("runs", "folder that holds run folders")
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "data source"})
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "encoder"})
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig, metadata={"help": "loss"})
    sampling: SamplingConfig = field(default_factory=SamplingConfig, metadata={"help": "batches"})
    mining: MiningConfig = field(default_factory=MiningConfig, metadata={"help": "triplet mining"})
    training: TrainingConfig = field(
        default_factory=TrainingConfig, metadata={"help": "training loop"}
    )
    evaluation: EvaluationConfig = field(
        default_factory=EvaluationConfig, metadata={"help": "evaluation"}
    )

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


CHOICES = {
    "data.split": ("classes", "protocol"),
    "data.normalise": ("none", "global", "feature", "log_feature", "series"),
    "data.val_split": ("auto", "classes", "items"),
    "sampling.kind": ("pairs", "triplets", "pk", "pair_list"),
    "training.optimizer": ("adam", "adamw", "sgd"),
    "training.lr_schedule": ("none", "cosine"),
    "training.on_collapse": ("recover", "warn", "stop"),
    "training.monitor": ("val_loss", "val_accuracy", "val_auc"),
    "training.precision": ("float32", "bfloat16"),  # training.optim.check_precision reads it
    "training.device": ("auto", "cpu", "cuda"),  # training.device.resolve_device reads it
    "mining.strategy": (
        "none",
        *("batch_hard", "batch_all", "semi_hard", "scheduled"),  # online (in-batch)
        *("random", "easiest", "hardest", "semi_hard_offline", *list_schedules()),  # sequenced
    ),
    "mining.schedule": tuple(list_schedules()),
}


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config as plain data, extras written back as plain keys (what a config file holds)."""
    out: dict[str, Any] = {}
    extra = getattr(type(cfg), "_extra", None)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == extra:
            out.update(value)
        elif dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        else:
            out[f.name] = value
    return out


def from_dict(data: dict[str, Any], cls: type = RunConfig, where: str = "") -> Any:
    """Build a config dataclass from plain data, checking keys, types, choices and (for a
    whole ``RunConfig``) ranges and cross-field rules.

    Every error is collected before anything is raised: a field with an error takes its
    default so the other fields are still checked, and the ``ConfigError`` holds one line per
    error.

    Raises:
        ConfigError: unknown keys (listing the valid keys), wrong types (naming the expected
            type and range), invalid choices, out-of-range values; all of them, one per line.
    """
    from siamese.training.config_checks import config_errors, raise_all

    errors: list[str] = []
    cfg = _build(data, cls, where, errors)
    if cls is RunConfig:  # ranges and cross-field rules of the fields that have the right type
        errors += config_errors(cfg)
    raise_all(errors)
    return cfg


def _build(data: Any, cls: type, where: str, errors: list[str]) -> Any:
    """``cls`` from ``data``; every error goes to ``errors`` and its field keeps its default."""
    if not isinstance(data, dict):
        errors.append(
            f"{'[' + where + ']' if where else 'config'}: expected a table of keys, got "
            f"{_kind(data)} ({data!r}); write it as a [section] of key = value lines"
        )
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = getattr(cls, "_extra", None)
    kwargs: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields or key == extra:
            if extra:
                extras[key] = value
                continue
            valid = ", ".join(k for k in fields if k != extra)
            errors.append(
                f"unknown config key {path!r}; valid keys{' in [' + where + ']' if where else ''}: {valid}"
            )
            continue
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            kwargs[key] = _build(value, typ, path, errors)
            continue
        error = _type_error(value, typ, path, fields[key])
        if error:
            errors.append(error)
            continue
        value = float(value) if _wants_float(typ) and type(value) is int else value
        if path in CHOICES and value not in CHOICES[path]:
            errors.append(
                f"config key {path!r}: expected one of {', '.join(CHOICES[path])}, got {value!r}"
            )
            continue
        kwargs[key] = value
    if extra:
        kwargs[extra] = extras
    return cls(**kwargs)


def _wants_float(typ: Any) -> bool:
    options = typing.get_args(typ) or (typ,)
    return float in options and int not in options


def _type_error(value: Any, typ: Any, path: str, f: dataclasses.Field) -> str | None:
    """The one-line error of a value of the wrong type for ``typ`` (None: the type fits)."""
    from siamese.training.config_checks import RULES, WORDS

    options = (
        typing.get_args(typ)
        if typing.get_origin(typ) in (typing.Union, types.UnionType)
        else (typ,)
    )
    if _fits(value, options, WORDS.get(path)):
        return None
    numeric = [t for t in options if t in (int, float)]
    if path in CHOICES:
        expected = f"one of {', '.join(CHOICES[path])}"
    elif path in RULES and numeric:
        expected = RULES[path].describe(float not in numeric)
    else:
        words = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
        expected = " or ".join(
            words.get(t, "a table") for t in options if t is not type(None) and t is not str
        )
    alternatives = [repr(w) for w in WORDS.get(path, ())]
    if str in options and path not in WORDS and path not in CHOICES:
        alternatives.insert(0, "a string")
    if type(None) in options:
        alternatives.append("left out")
    parts = [expected, *alternatives] if expected else alternatives
    expected = ", ".join(parts[:-1]) + f" or {parts[-1]}" if len(parts) > 1 else parts[0]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return (
        f"config key {path!r} = {value!r}: expected {expected}, got {_kind(value)} "
        f"(default {default!r})"
    )


def _fits(value: Any, options: tuple, words: tuple[str, ...] | None) -> bool:
    """Whether TOML/YAML data fits a field typed as one of ``options`` (``words``: the only
    strings a numeric field takes, such as ``"auto"``)."""
    if isinstance(value, bool):  # before int: True is an int to Python, not to a config
        return bool in options
    if isinstance(value, str):
        return str in options and (words is None or value in words)
    kinds = {int: (int, float), float: (float,), dict: (dict,), type(None): (type(None),)}
    return any(t in options for t in kinds.get(type(value), ()))


def _kind(value: Any) -> str:
    """A value's kind in the words of a config file."""
    if isinstance(value, bool):
        return "true/false"
    return {
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file into plain data."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise ConfigError(f"config file {path} {what}; pass an existing .toml or .yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        msg = str(exc).splitlines()[0]
        raise ConfigError(
            f"config file {path}: not valid {path.suffix.lstrip('.') or 'TOML'} ({msg})"
        ) from None
    except RecursionError:  # e.g. JSON or YAML nested thousands of levels deep
        raise ConfigError(
            f"config file {path}: nested too deep to parse (thousands of levels); is it a run "
            "config?"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a table of keys at the top level")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides (dotted keys, TOML values: ``training.epochs=3``)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. training.epochs=3")
        key, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word is a string
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a table")
        node[parts[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and check a run config (``path=None``: all defaults)."""
    data = read_config_file(path) if path is not None else {}
    return from_dict(apply_overrides(data, list(overrides or [])))


def describe_fields(cls: type = RunConfig, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, default, help) for every config field, for documentation and ``--help``."""
    from siamese.training.config_checks import dataclass_fields

    return dataclass_fields(cls, prefix)
