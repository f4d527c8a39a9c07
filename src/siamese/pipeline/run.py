"""A whole run: train, evaluate on the test split, write the report, and give the verdict.

``train_from_config`` is what `siamese train` runs: ``siamese.training.run.train_run`` trains and
saves the model, then the test split is evaluated (``evaluation.json``), the report is written,
and a run that ended collapsed raises ``TrainingFailed`` (CLI exit 1) after its folder and report
are written, so the user can see why.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import siamese.training.run_status as run_status
from siamese._io import atomic_write_json
from siamese.data import LabeledDataset
from siamese.errors import TrainingFailed
from siamese.evaluation.model_evaluation import evaluate_model
from siamese.model import SiameseModel
from siamese.training.collapse import collapse_advice, weak_model_warning
from siamese.training.config import RunConfig
from siamese.training.run import TrainedRun, train_run


@dataclass
class RunResult:
    """What a finished run produced."""

    run_dir: Path
    model: SiameseModel
    history: list[dict[str, Any]]
    evaluation: dict[str, Any]
    splits: dict[str, LabeledDataset]


@run_status.tracked
def train_from_config(
    cfg: RunConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    console: Any = None,
    report: bool = True,
    progress_override: bool | None = None,
) -> RunResult:
    """Run a whole training job described by ``cfg`` into ``<out_dir>/<name>/``.

    Raises:
        SiameseError: bad config or data (nothing is written then: the run folder is created
            only once the config is valid and the data is read). A run that fails after that
            is marked ``failed`` in its ``status.json``.
        TrainingFailed: the embedding ended collapsed (the folder and report are written).
    """
    trained = train_run(
        cfg,
        resume=resume,
        overwrite=overwrite,
        console=console,
        progress_override=progress_override,
    )
    if not trained.is_main:  # the other ranks of a torchrun job only train
        return RunResult(trained.run_dir, trained.model, trained.history, {}, trained.splits)
    evaluation = evaluate_trained(cfg, trained, console)
    if report:
        write_report(trained.run_dir, console)
    raise_if_collapsed(cfg, trained)
    return RunResult(trained.run_dir, trained.model, trained.history, evaluation, trained.splits)


def evaluate_trained(cfg: RunConfig, trained: TrainedRun, console: Any = None) -> dict[str, Any]:
    """Evaluate the trained model on its test split into ``evaluation.json`` (with the training
    summary, and a warning for a model that barely beats chance)."""
    model, test, val = trained.model, trained.splits.get("test"), trained.splits.get("val")
    evaluation: dict[str, Any] = {}
    if test is not None and len(test):
        t1 = time.perf_counter()
        evaluation = evaluate_model(
            model,
            test,
            val=val,
            n_way=cfg.evaluation.n_way,
            k_shot=cfg.evaluation.k_shot,
            episodes=cfg.evaluation.episodes,
            pairs=cfg.evaluation.pairs,
            seed=cfg.seed,
        )
        evaluation["seconds"] = round(time.perf_counter() - t1, 2)
    evaluation["training"] = model.info["training"]
    weak = weak_model_warning(evaluation)
    if weak is not None:
        evaluation["warnings"] = [weak]
        _warn(f"warning: {weak}", console, style="bold yellow")
    atomic_write_json(trained.run_dir / "evaluation.json", evaluation)
    return evaluation


def raise_if_collapsed(cfg: RunConfig, trained: TrainedRun) -> None:
    """``TrainingFailed`` (CLI exit 1) with what to try, when the run ended collapsed."""
    collapse = trained.model.info["training"]["collapse"]
    if collapse["state"] != "collapsed":
        return
    last = collapse["reasons"][str(collapse["epochs"][-1])]
    raise TrainingFailed(
        f"run {trained.run_dir}: the embedding collapsed at epoch {collapse['epochs'][-1]} "
        f"({'; '.join(last)})"
        + (f" after {len(collapse['recoveries'])} recoveries" if collapse["recoveries"] else "")
        + "; the model in the run folder does not work. Try: "
        + collapse_advice(cfg.objective.name, cfg.mining.strategy)
    )


def write_report(run_dir: Path, console: Any = None) -> None:
    """Write report.html; a failure is a warning, never a failed training run."""
    from siamese.reporting import build_report

    try:
        path = build_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the trained model is already saved
        _warn(
            f"warning: report not written ({type(exc).__name__}: {exc}); try "
            f"`siamese report {run_dir}`",
            console,
        )
        return
    if console is not None:
        console.print(f"report: {path}", markup=False)


def _warn(msg: str, console: Any, style: str | None = None) -> None:
    if console is not None:
        console.print(msg, style=style, markup=False)
    else:
        print(msg, file=sys.stderr)  # stdout may carry --json
