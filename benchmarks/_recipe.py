"""Shared by the Omniglot and LFW benchmarks: training with a dataset hook, results plumbing.

The recipes themselves (crop, augmentation, rotated classes) are plain config keys read by
``train_from_config``. The benchmarks only need two extras: to see the prepared dataset a run
used (LFW scores its fixed pair lists on it) and to assign their own split (LFW View 2 retrained
per fold). ``train_run`` gives both through ``transform``, applied to what the reader returns.
"""

from __future__ import annotations

import argparse
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

import siamese.training.splits as run_module  # where a run reads its source
from siamese._io import atomic_write_json
from siamese.data import load_source
from siamese.data.augment import center_crop
from siamese.data.labeled_dataset import LabeledDataset
from siamese.pipeline.run import RunResult, train_from_config
from siamese.training.config import RunConfig
from siamese.training.optim import cpu_bf16_units

Transform = Callable[[LabeledDataset], LabeledDataset]


def read_prepared(cfg: RunConfig, *, crop: bool = True, **options: Any) -> LabeledDataset:
    """Read ``cfg``'s data (``options`` override reader options) and crop it as a run does.

    With ``crop=False`` the reader's (lazy) dataset is returned as read for cropping, that is
    without ``size`` when ``data.crop`` is set; ``prepare_dataset`` crops it later.
    """
    opts = {**cfg.data.options, **options}
    if cfg.data.crop:
        opts.pop("size", None)  # resize after the crop
    dataset = load_source(cfg.data.source, **opts)
    return prepare_dataset(cfg, dataset) if crop else dataset


def prepare_dataset(cfg: RunConfig, dataset: LabeledDataset) -> LabeledDataset:
    """Crop a dataset read with ``cfg``'s reader options (minus ``size``) as a run does."""
    if not cfg.data.crop:
        return dataset
    return center_crop(dataset, cfg.data.crop, cfg.data.options.get("size"))


@contextmanager
def source_transform(transform: Transform | None) -> Iterator[None]:
    """Within the block, runs see ``transform(reader output)`` instead of the reader output."""
    original = run_module.load_source

    def load(name: str, **options: Any) -> LabeledDataset:
        dataset = original(name, **options)
        return transform(dataset) if transform is not None else dataset

    run_module.load_source = load
    try:
        yield
    finally:
        run_module.load_source = original


def train_run(cfg: RunConfig, transform: Transform | None = None, **kwargs: Any) -> RunResult:
    """``train_from_config(cfg, **kwargs)`` with ``transform`` applied to the reader's dataset."""
    with source_transform(transform):
        return train_from_config(cfg, **kwargs)


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
            **cpu_features(),
        },
    }


def cpu_features() -> dict[str, Any]:
    """The CPU's model name and its bfloat16 units (``training.precision = "bfloat16"`` is fast
    with AMX or AVX-512 BF16 and slow without them)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        name = next(
            (ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln), None
        )
    except OSError:
        name = platform.processor() or None
    return {"cpu": name, "bf16_units": cpu_bf16_units()}


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
