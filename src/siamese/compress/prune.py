"""Structured pruning that really shrinks a model: whole conv channels, linear units and LSTM
hidden units are removed and the layers rebuilt smaller (``siamese prune``).

Setting small weights to zero leaves a dense tensor as large as before; here the encoder is built
again from smaller arguments (``channels``, ``hidden``, ``hidden_size``, ``dense``,
``embedding_dim``, recorded in ``model.json``), so ``model.safetensors``, every export and the
compute shrink, and every loader (gallery, export, evaluate, report) reads the result unchanged.
Which channels stay is chosen by norm (``siamese.compress._families``); an optional short
fine-tuning then trains the smaller model with the run's own objective, sampling and mining.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamese._io import atomic_write_json
from siamese.compress._families import prune_encoder
from siamese.errors import ConfigError, SiameseError
from siamese.model import WEIGHTS, SiameseModel
from siamese.objectives.pair_head import PairHead

COPIED = ("dataset.json", "metrics.jsonl", "margin.json", "demo.json")  # the run's history
FINE_TUNE_LR = 0.1  # fine-tuning learning rate, as a share of the run's


def check_amount(amount: float) -> float:
    """``amount`` as a float strictly between 0 and 1.

    Raises:
        ConfigError: anything else.
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 < amount < 1:
        raise ConfigError(
            f"--amount {amount!r}: expected a fraction of channels to remove, 0 < amount < 1 "
            "(0.5 removes half of each layer's channels)"
        )
    return float(amount)


def parameter_count(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def prune_model(
    model: SiameseModel, amount: float, *, keep_embedding: bool = False
) -> tuple[SiameseModel, dict[str, Any]]:
    """A smaller copy of ``model`` with a fraction ``amount`` of every layer's channels removed.

    Args:
        model: a ``SiameseModel`` of a registered encoder (conv4, koch_cnn, mlp, conv1d, lstm).
        amount: the fraction of channels / units removed from each layer, 0 < amount < 1.
        keep_embedding: keep every dimension of the embedding (prune the layers before it only).

    Returns:
        ``(pruned model, summary)``; the summary holds the old and new encoder arguments, the
        parameter counts and the kept embedding dimensions.

    Raises:
        ConfigError: an amount outside (0, 1) or an encoder without a pruning rule.
    """
    amount = check_amount(amount)
    head_w = None if model.head is None else model.head.linear.weight.detach()[0]  # (D,)
    args, state, kept_emb, log = prune_encoder(
        model.encoder_name,
        model.encoder,
        model.encoder_args,
        amount,
        keep_embedding=keep_embedding,
        head_weight=head_w,
    )
    from siamese.encoders import create_encoder

    encoder = create_encoder(model.encoder_name, **args)
    encoder.load_state_dict(state, strict=True)  # every tensor cut to the new shape, or an error
    head = None
    if model.head is not None:
        dim = int(getattr(encoder, "embedding_dim", 0) or model.head.dim)
        head = PairHead(dim)
        hs = {k: v.detach().clone() for k, v in model.head.state_dict().items()}
        if kept_emb is not None:
            hs["linear.weight"] = hs["linear.weight"][:, kept_emb].contiguous()
        head.load_state_dict(hs, strict=True)
    pruned = SiameseModel(
        encoder,
        model.normaliser,
        head,
        encoder_name=model.encoder_name,
        encoder_args=args,
        distance=model.distance_name,
        info=json.loads(json.dumps(model.info)),
        test_time_shift=model.test_time_shift,
    ).eval()
    changed = {k: v for k, v in args.items() if model.encoder_args.get(k) != v}
    summary = {
        "amount": amount,
        "keep_embedding": keep_embedding,
        "encoder": model.encoder_name,
        "args_before": {k: model.encoder_args.get(k) for k in changed},
        "args_after": changed,
        "parameters_before": parameter_count(model),
        "parameters_after": parameter_count(pruned),
        "embedding_kept": None if kept_emb is None else kept_emb.tolist(),
        "cuts": [(name, dim, idx.tolist()) for name, dim, idx in log],
    }
    pruned.info["pruned"] = {
        k: v for k, v in summary.items() if k not in ("embedding_kept", "cuts")
    }
    config = pruned.info.get("config")
    if isinstance(config, dict) and isinstance(config.get("model"), dict):
        config["model"].update(changed)
    return pruned, summary


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
        from siamese.training.run import write_report

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
    from siamese.evaluation.run_evaluation import evaluate_run

    t0 = time.perf_counter()
    result = evaluate_run(run_dir)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def fine_tune(model: SiameseModel, cfg: Any, steps: int, learning_rate: float) -> dict[str, Any]:
    """Train ``model`` for ``steps`` steps with the run's objective, sampling, mining,
    augmentation and precision on its training split (no validation, no checkpoints).

    Returns:
        ``{"steps", "learning_rate", "train_loss", "seconds"}`` (the mean loss of the steps).
    """
    from siamese.objectives import create_objective
    from siamese.seed import seed_everything
    from siamese.training.run import build_augment, build_generator, build_miner, load_splits
    from siamese.training.trainer import Trainer

    seed_everything(cfg.seed)
    _, parts, _ = load_splits(cfg)
    train = parts["train"]
    margin = cfg.objective.margin
    if margin == "auto":  # the margin the run measured and trained with
        margin = (model.info.get("objective") or {}).get("margin")
    objective = create_objective(
        cfg.objective.name,
        embedding_dim=int(getattr(model.encoder, "embedding_dim", 0) or 0),
        margin=margin,
        distance=cfg.objective.distance,
        alpha=cfg.objective.alpha,
        beta=cfg.objective.beta,
        base=cfg.objective.base,
    )
    epochs = 1
    generator = build_generator(
        cfg, train, epochs=epochs, steps=steps, objective_margin=getattr(objective, "margin", None)
    )
    trainer = Trainer(
        model,
        objective,
        generator,
        train,
        miner=build_miner(cfg, objective),
        optimizer=cfg.training.optimizer,
        learning_rate=learning_rate,
        weight_decay=cfg.training.weight_decay,
        momentum=cfg.training.momentum,
        lr_schedule="none",
        grad_clip=cfg.training.grad_clip,
        epochs=epochs,
        restore_best=False,
        on_collapse="warn",
        snapshot_items=0,
        augment=build_augment(cfg, train.kind),
        seed=cfg.seed,
        progress=False,
        precision=cfg.training.precision,
    )
    t0 = time.perf_counter()
    history = trainer.fit()
    model.eval()
    last = history[-1] if history else {}
    out = {
        "steps": steps,
        "learning_rate": learning_rate,
        "train_loss": _finite(last.get("train_loss")),  # mean over the fine-tuning steps
        "seconds": round(time.perf_counter() - t0, 2),
    }
    model.info["pruned"]["fine_tune"] = out
    return out


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float, np.floating)) and math.isfinite(v) else None
