"""Evaluate a finished run folder again (`siamese evaluate RUN_DIR`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from siamese.errors import ModelFileError
from siamese.evaluation.gallery_1nn import gallery_1nn_accuracy
from siamese.evaluation.model_evaluation import evaluate_model


def evaluate_run(
    run_dir: str | Path,
    *,
    n_way: int | None = None,
    k_shot: int | None = None,
    episodes: int | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Load the run's model and config, rebuild its splits, and evaluate on the test classes.

    The test items are embedded on ``device`` (auto: CUDA when torch sees a GPU, else the CPU;
    cpu; cuda: refused without a GPU), whatever device the run was trained on.

    When the split is the data's own protocol and every test class occurs in its training part
    (UCR/UEA, classification-style protocols), the result also holds ``gallery_1nn_accuracy``:
    1-NN accuracy of every TEST item against the gallery of all TRAIN items (train and validation
    parts; ``gallery_items``), the standard UCR figure.
    """
    from siamese.model import SiameseModel
    from siamese.training.config import from_dict
    from siamese.training.config_checks import data_errors, raise_all
    from siamese.training.device import place
    from siamese.training.splits import load_splits

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ModelFileError(
            f"{run_dir}: no such run folder; pass a folder written by `siamese train`"
        )
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise ModelFileError(
            f"{cfg_path}: missing; is {run_dir} a run folder written by `siamese train`?"
        )
    try:
        cfg = from_dict(json.loads(cfg_path.read_text()))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{cfg_path}: corrupt ({exc})") from None
    model = place(SiameseModel.load(run_dir), device)
    _, parts, _ = load_splits(cfg)
    if "test" not in parts:
        raise ModelFileError(f"{run_dir}: the run has no test split (data.test_fraction = 0)")
    ev = dataclasses.replace(
        cfg.evaluation, n_way=n_way or cfg.evaluation.n_way, k_shot=k_shot or cfg.evaluation.k_shot
    )
    if n_way:  # an explicit --n-way beyond the test classes is an error, never capped
        checked = dataclasses.replace(cfg, evaluation=ev)
        raise_all(data_errors(checked, parts, splits=["test"], option="--n-way"))
    result = evaluate_model(
        model,
        parts["test"],
        val=parts.get("val"),
        n_way=ev.n_way,
        k_shot=ev.k_shot,
        episodes=episodes or ev.episodes,
        pairs=ev.pairs,
        seed=cfg.seed,
    )
    gallery = [parts[p] for p in ("train", "val") if p in parts]
    shared = np.isin(parts["test"].labels, np.concatenate([g.labels for g in gallery])).all()
    if cfg.data.split == "protocol" and shared:
        result.update(gallery_1nn_accuracy(model, gallery, parts["test"], seed=cfg.seed))
    return result
