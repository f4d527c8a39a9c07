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
import time
from typing import Any

import numpy as np
import torch

from siamese.compress._families import prune_encoder
from siamese.errors import ConfigError
from siamese.model import SiameseModel
from siamese.objectives.pair_head import PairHead


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


def fine_tune(model: SiameseModel, cfg: Any, steps: int, learning_rate: float) -> dict[str, Any]:
    """Train ``model`` for ``steps`` steps with the run's objective, sampling, mining,
    augmentation and precision on its training split (no validation, no checkpoints).

    Returns:
        ``{"steps", "learning_rate", "train_loss", "seconds"}`` (the mean loss of the steps).
    """
    from siamese.objectives import create_objective
    from siamese.seed import seed_everything
    from siamese.training.run import build_augment, build_generator, build_miner
    from siamese.training.splits import load_splits
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
