"""`siamese prune`: a pruned copy of a run as a new run folder, with its own evaluation and
report (``siamese.compress.prune`` rebuilds the layers smaller and fine-tunes; this flow writes
the folder, evaluates it as `siamese evaluate` would and reports on it)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from siamese._io import atomic_write_json
from siamese.compress.prune import check_amount, fine_tune, prune_model
from siamese.errors import ConfigError, SiameseError
from siamese.model import WEIGHTS, SiameseModel
from siamese.pipeline.evaluate_run import evaluate_run
from siamese.pipeline.run import write_report

COPIED = ("dataset.json", "metrics.jsonl", "margin.json", "demo.json")  # the run's history
FINE_TUNE_LR = 0.1  # fine-tuning learning rate, as a share of the run's


def prune_run(
    run_dir: str | Path,
    out: str | Path,
    amount: float,
    *,
    fine_tune_steps: int = 0,
    fine_tune_lr: float | None = None,
    keep_embedding: bool = False,
    report: bool = True,
    console: Any = None,
) -> dict[str, Any]:
    """Prune a run's model into a new run folder, fine-tune it, evaluate it (and report).

    The new folder holds the run's config (the model section with the smaller arguments, the
    name of the new folder), its dataset description and training history, the pruned model,
    ``prune.json`` (what was removed, sizes, fine-tuning losses), ``evaluation.json`` and
    ``report.html``. It is written beside ``out`` and renamed into place when complete.

    Args:
        run_dir: a run folder written by ``siamese train``.
        out: the new run folder (must not exist, or be empty).
        amount: the fraction of channels / units removed from each layer, 0 < amount < 1.
        fine_tune_steps: training steps after pruning (0: none), with the run's objective,
            sampling, mining, augmentation and precision, on its training split.
        fine_tune_lr: their learning rate (default: a tenth of the run's).
        keep_embedding: keep every embedding dimension.
        report: also write ``report.html``.

    Returns:
        ``prune.json``'s content, with ``out``, file sizes and the two evaluations.

    Raises:
        ConfigError: a bad amount or step count, an existing ``out``, a folder that is not a run
            (or, for fine-tuning and evaluation, a run whose data cannot be read again).
        ModelFileError: a broken model folder.
    """
    from siamese.training.config import from_dict

    amount = check_amount(amount)
    if (
        isinstance(fine_tune_steps, bool)
        or not isinstance(fine_tune_steps, int)
        or fine_tune_steps < 0
    ):
        raise ConfigError(f"--fine-tune-steps {fine_tune_steps!r}: expected 0 or more steps")
    run_dir, out = Path(run_dir), Path(out)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(
            f"{cfg_path}: missing; siamese prune takes a run folder written by `siamese train` "
            "(its config says how to fine-tune and evaluate the pruned model)"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: already exists; pass a new folder for the pruned run")
    model = SiameseModel.load(run_dir)
    pruned, summary = prune_model(model, amount, keep_embedding=keep_embedding)
    try:
        raw = json.loads(cfg_path.read_text())
        cfg = from_dict(raw)
    except (SiameseError, ValueError) as exc:
        raise ConfigError(f"{cfg_path}: not a readable run config ({exc})") from None
    raw["name"], raw["out_dir"] = out.name, str(out.parent)
    raw.setdefault("model", {}).update(summary["args_after"])
    if fine_tune_steps:
        summary["fine_tune"] = fine_tune(
            pruned, cfg, fine_tune_steps, fine_tune_lr or cfg.training.learning_rate * FINE_TUNE_LR
        )
    tmp = out.with_name(f".{out.name}.prune-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for name in COPIED:
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, tmp / name)
        atomic_write_json(tmp / "config.json", raw)
        pruned.save(tmp)
        summary.update(
            source=str(run_dir),
            bytes_before=(run_dir / WEIGHTS).stat().st_size,
            bytes_after=(tmp / WEIGHTS).stat().st_size,
        )
        atomic_write_json(tmp / "prune.json", {k: v for k, v in summary.items() if k != "cuts"})
        evaluation = _evaluate(tmp)
        atomic_write_json(tmp / "evaluation.json", evaluation)
        if out.exists():
            out.rmdir()  # an empty folder, checked above
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if report:
        write_report(out, console)
    before = run_dir / "evaluation.json"
    return {
        **summary,
        "out": str(out),
        "evaluation_before": json.loads(before.read_text()) if before.is_file() else None,
        "evaluation_after": evaluation,
    }


def _evaluate(run_dir: Path) -> dict[str, Any]:
    """``evaluate_run`` on the new folder (the run's test split), timed."""
    t0 = time.perf_counter()
    result = evaluate_run(run_dir)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result
