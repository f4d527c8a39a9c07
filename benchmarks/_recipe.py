"""Shared by the Omniglot and LFW benchmarks: run ``train_from_config`` with the recipe hooks.

Two recipe options are not yet keys of the run config, so the benchmarks read them from the
config's ``[data]`` table themselves and hand the rest to ``train_from_config``:

* ``augment = {rotate = 10, shift = 0.08, ...}``: ``siamese.data.augment.ImageAugment`` applied to
  the training batches only;
* ``rotated_classes = true``: each training class rotated by 90/180/270 degrees is a new class;
* ``crop = 100``: keep the central 100x100 pixels of each image, then resize to the reader's
  ``size`` (``siamese.data.augment.center_crop``; the reader then reads full-size images).

Until the trainer reads them itself (see the report: ``Trainer(augment=...)`` and two lines in
``run.py``), ``recipe_hooks`` swaps in a Trainer subclass and a split wrapper for the duration of
one run. Nothing else about the run differs from ``siamese train``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

import siamese.training.run as run_module
from siamese._io import atomic_write_json
from siamese.data.augment import ImageAugment, center_crop, rotated_classes
from siamese.data.labeled_dataset import LabeledDataset
from siamese.sampling._batch import Batch
from siamese.training.config import RunConfig, to_dict
from siamese.training.run import RunResult, train_from_config
from siamese.training.trainer import Trainer

RECIPE_KEYS = ("augment", "rotated_classes", "crop")


class AugmentingTrainer(Trainer):
    """A ``Trainer`` that augments its training batches (validation batches stay untouched)."""

    def __init__(self, *args: Any, augment: ImageAugment | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.augment = augment

    def _tensors(
        self, data: LabeledDataset, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, lens = super()._tensors(data, batch)
        if self.augment is not None and self.model.training and data is self.train:
            x = self.augment(x)  # (B, C, H, W) float
        return x, lens


def split_recipe(cfg: RunConfig) -> tuple[RunConfig, dict[str, Any]]:
    """Take the recipe keys out of ``cfg.data.options`` (a copy); return (config, recipe)."""
    options = dict(cfg.data.options)
    recipe = {k: options.pop(k) for k in RECIPE_KEYS if k in options}
    if "crop" in recipe and "size" in options:
        recipe["size"] = options.pop("size")  # resize after cropping, not before
    data = dataclasses.replace(cfg.data, options=options)
    return dataclasses.replace(cfg, data=data), recipe


def prepare_dataset(dataset: LabeledDataset, recipe: dict[str, Any]) -> LabeledDataset:
    """The recipe's preprocessing of a whole dataset (the central crop)."""
    if recipe.get("crop"):
        dataset = center_crop(dataset, recipe["crop"], recipe.get("size"))
    return dataset


@contextmanager
def recipe_hooks(
    recipe: dict[str, Any], transform: Callable[[LabeledDataset], LabeledDataset] | None = None
) -> Iterator[None]:
    """Within the block, ``train_from_config`` crops, augments and adds rotated classes as asked.

    Args:
        recipe: the recipe keys taken out of ``[data]`` by ``split_recipe``.
        transform: applied to the dataset after the recipe's preprocessing (e.g. a benchmark
            assigning its own train/test split).
    """
    augment = ImageAugment.from_config(recipe.get("augment"))
    original = run_module.Trainer, run_module.load_splits, run_module.load_source

    def load_source(name: str, **options: Any) -> LabeledDataset:
        dataset = prepare_dataset(original[2](name, **options), recipe)
        return transform(dataset) if transform is not None else dataset

    def load_splits(cfg: RunConfig) -> tuple[LabeledDataset, dict[str, LabeledDataset], str]:
        dataset, parts, how = original[1](cfg)
        if recipe.get("rotated_classes"):
            parts["train"] = rotated_classes(parts["train"])
            dataset = dataclasses.replace(dataset, class_names=parts["train"].class_names)
            how += "; training classes rotated by 90/180/270 degrees added as new classes"
        return dataset, parts, how

    run_module.Trainer = functools.partial(AugmentingTrainer, augment=augment)  # type: ignore[misc]
    run_module.load_splits, run_module.load_source = load_splits, load_source
    try:
        yield
    finally:
        run_module.Trainer, run_module.load_splits, run_module.load_source = original


def train_recipe(
    cfg: RunConfig,
    transform: Callable[[LabeledDataset], LabeledDataset] | None = None,
    **kwargs: Any,
) -> RunResult:
    """``train_from_config`` with the recipe keys of ``cfg.data`` honoured (see module docstring)."""
    plain, recipe = split_recipe(cfg)
    with recipe_hooks(recipe, transform):
        result = train_from_config(plain, **kwargs)
    # The run folder records the whole config, recipe keys included.
    atomic_write_json(result.run_dir / "config.json", to_dict(cfg))
    result.model.info["config"] = to_dict(cfg)
    result.model.info["recipe"] = recipe
    result.model.save(result.run_dir)
    return result


# ---------------------------------------------------------------------- benchmark plumbing
def bench_overrides(
    args: argparse.Namespace, quick: list[str]
) -> tuple[list[str], tempfile.TemporaryDirectory | None]:
    """Config overrides from the common options (``--seed``, ``--quick``, ``--data``, ``--set``).

    Returns:
        ``(overrides, tmp)``: ``tmp`` is a temporary run folder in quick mode (else ``None``).
    """
    overrides = [f"seed={args.seed}", *(quick if args.quick else []), *args.overrides]
    tmp = tempfile.TemporaryDirectory() if args.quick else None
    if tmp is not None:
        overrides.append(f'out_dir="{tmp.name}"')
    if args.data:
        overrides.append(f'data.path="{args.data}"')
    return overrides, tmp


def bench_record(
    name: str,
    args: argparse.Namespace,
    argv: list[str] | None,
    overrides: list[str],
    clock: tuple[float, float, float],
    **fields: Any,
) -> dict[str, Any]:
    """The JSON result record: the exact command, seed, config, ``fields``, times and the machine.

    Args:
        clock: ``(start, training wall seconds, training CPU seconds)``, ``start`` from
            ``time.perf_counter()``; the training times are left out with ``--run-dir``.
    """
    command = [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
    start, wall, cpu = clock
    trained = not getattr(args, "run_dir", None)
    return {
        "benchmark": name,
        "command": "python " + " ".join(shlex.quote(a) for a in command),
        "seed": args.seed,
        "quick": args.quick,
        "config": args.config,
        "overrides": overrides,
        **fields,
        "train_wall_seconds": round(wall, 1) if trained else None,
        "train_cpu_seconds": round(cpu, 1) if trained else None,
        "total_wall_seconds": round(time.perf_counter() - start, 1),
        "machine": {
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }


def results_table(title: str, record: dict[str, Any]) -> Table:
    """An empty benchmark table (protocol, accuracy, detail) titled with the seed."""
    quick = ", QUICK" if record["quick"] else ""
    table = Table(title=f"{title} (seed {record['seed']}{quick})")
    table.add_column("protocol")
    table.add_column("accuracy", justify="right")
    table.add_column("detail")
    return table


def add_time_rows(table: Table, record: dict[str, Any]) -> None:
    """The training and total time rows of a benchmark's table."""
    if record.get("train_wall_seconds") is not None:
        table.add_row(
            "training time",
            f"{record['train_wall_seconds']:.0f} s",
            f"wall clock; {record['train_cpu_seconds']:.0f} s CPU (all threads)",
        )
    table.add_row("total time", f"{record['total_wall_seconds']:.0f} s", "training + evaluation")


def save_record(record: dict[str, Any], out: str | None, console: Console) -> Path:
    """Write the record to ``out`` (default ``benchmarks/results/<name>[_quick].json``)."""
    default = f"{record['benchmark']}{'_quick' if record['quick'] else ''}.json"
    path = Path(out) if out else Path(__file__).resolve().parent / "results" / default
    atomic_write_json(path, record)
    console.print(f"wrote {path}")
    return path
