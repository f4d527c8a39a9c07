"""From a config to a trained model in its run folder: data, model, objective, miner, training.

Evaluation, the report and the collapse verdict come after, in ``siamese.pipeline``; training
knows nothing of them."""

from __future__ import annotations

import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import siamese
import siamese.training.run_status as run_status
from siamese._io import atomic_write_json
from siamese.data import LabeledDataset, Normaliser
from siamese.data.augment import ImageAugment
from siamese.data.augment_series import SeriesAugment
from siamese.data.image_prep import preparation_record
from siamese.encoders import create_encoder
from siamese.errors import ConfigError, SiameseError
from siamese.model import SiameseModel
from siamese.objectives import PairHead, create_objective
from siamese.sampling import (
    BatchGenerator,
    PairGenerator,
    PairListGenerator,
    PKGenerator,
    TripletGenerator,
)
from siamese.sampling.neighbour_pk import NeighbourPKGenerator
from siamese.seed import seed_everything
from siamese.training.checkpoint import verify_checkpoint
from siamese.training.collapse import collapse_summary
from siamese.training.config import RunConfig, to_dict
from siamese.training.distributed import DistributedContext
from siamese.training.early_stopping import EarlyStopping
from siamese.training.fine_tune import BackboneSchedule, init_encoder_from
from siamese.training.margin import distance_bound, fit_margin, histogram, sample_distances
from siamese.training.recovery import CollapseRecovery
from siamese.training.splits import load_splits
from siamese.training.trainer import Trainer

ONLINE_MINERS = ("batch_hard", "batch_all", "semi_hard", "scheduled")


@dataclass
class TrainedRun:
    """What training produced: the run folder (written on the main process only), the trained
    model (saved there), the epoch records and the splits it was trained and will be tested on."""

    run_dir: Path
    model: SiameseModel
    history: list[dict[str, Any]]
    splits: dict[str, LabeledDataset]
    is_main: bool = True


def build_augment(cfg: RunConfig, kind: str) -> Any:
    """The training-batch augmentation of ``data.augment`` for image or series items."""
    if not cfg.data.augment:
        return None
    if kind == "image":
        return ImageAugment.from_config(cfg.data.augment)
    if kind == "sequence":
        return SeriesAugment.from_config(cfg.data.augment)
    raise ConfigError(f"data.augment: augmentation is for image or sequence items, not {kind!r}")


def build_model(
    cfg: RunConfig, train: LabeledDataset, info: dict[str, Any]
) -> tuple[SiameseModel, Any]:
    """Encoder (input shape from the data), normaliser fitted on train, objective and pair head."""
    encoder_args = {"input_shape": list(train.item_shape), **cfg.model.args}
    encoder = create_encoder(cfg.model.encoder, **encoder_args)
    encoder_args.update(getattr(encoder, "rebuild_args", dict)())  # e.g. hf_vision's config
    if cfg.model.init_from:  # fine-tuning: start from a model folder's encoder weights
        info = {**info, "init_from": init_encoder_from(encoder, cfg, cfg.model.init_from)}
    dim = int(getattr(encoder, "embedding_dim", 0) or 0)
    if dim == 0:
        with torch.no_grad():
            encoder.eval()
            dim = int(encoder(torch.zeros(2, *train.item_shape)).shape[1])
    objective = create_objective(
        cfg.objective.name,
        embedding_dim=dim,
        margin=None if cfg.objective.margin == "auto" else cfg.objective.margin,
        distance=cfg.objective.distance,
        alpha=cfg.objective.alpha,
        beta=cfg.objective.beta,
        base=cfg.objective.base,
    )
    normaliser = Normaliser.fit(train, cfg.data.normalise, seed=cfg.seed)
    head = PairHead(dim) if objective.needs_head else None
    distance = objective.distance.name if objective.distance.name != "l1" else "euclidean"
    model = SiameseModel(
        encoder,
        normaliser,
        head,
        encoder_name=cfg.model.encoder,
        encoder_args=encoder_args,
        distance=distance,
        info=info,
    )
    return model, objective


def backbone_schedule(cfg: RunConfig, model: SiameseModel) -> BackboneSchedule | None:
    """The fine-tuning schedule of ``[training]``, or None when its keys are at their defaults."""
    t = cfg.training
    if t.freeze_backbone_epochs == 0 and t.backbone_lr_scale == 1 and t.layer_decay == 1:
        return None
    return BackboneSchedule(
        model,
        freeze_epochs=t.freeze_backbone_epochs,
        backbone_lr_scale=t.backbone_lr_scale,
        layer_decay=t.layer_decay,
    )


def build_generator(
    cfg: RunConfig,
    data: LabeledDataset,
    *,
    epochs: int,
    steps: int,
    objective_margin: float | None = None,
) -> BatchGenerator:
    """The batch generator the sampling and mining sections ask for (``objective_margin``: the
    objective's margin as set, the semi-hard margin of offline mining by default)."""
    strategy = cfg.mining.strategy
    if strategy not in ("none", *ONLINE_MINERS):
        try:
            from siamese.mining import create_sequenced_generator
        except ImportError as exc:  # pragma: no cover - the mining package ships with the library
            raise ConfigError(
                f"mining.strategy {strategy!r} needs siamese.mining ({exc})"
            ) from None
        return create_sequenced_generator(
            strategy,
            data.labels,
            triplets_per_batch=cfg.sampling.batch_size,
            steps_per_epoch=steps,
            epochs=epochs,
            seed=cfg.seed,
            reference_mask=data.meta.get("is_reference"),
            threshold=cfg.mining.threshold,
            growth=cfg.mining.growth,
            midpoint=cfg.mining.midpoint,
            cycles=cfg.mining.cycles,
            margin=cfg.mining.margin
            if cfg.mining.margin is not None
            else (objective_margin or 0.2),
            # hardness in the objective's distance (the sequencer measures euclidean or cosine;
            # squared euclidean and L1 are ranked by euclidean)
            distance="cosine" if cfg.objective.distance == "cosine" else "euclidean",
        )
    if cfg.sampling.kind == "pair_list":
        return pair_list_generator(data, cfg.sampling.batch_size)
    if cfg.sampling.kind == "pairs":
        return PairGenerator(data.labels, cfg.sampling.batch_size, steps)
    if cfg.sampling.kind == "triplets" and strategy == "none":
        return TripletGenerator(data.labels, cfg.sampling.batch_size, steps)
    if cfg.sampling.group > 0:
        return NeighbourPKGenerator(
            data.labels,
            cfg.sampling.p,
            cfg.sampling.k,
            steps,
            group=cfg.sampling.group,
            pool=cfg.sampling.pool,
            per_class=cfg.sampling.per_class,
            seed=cfg.seed,
        )
    return PKGenerator(data.labels, cfg.sampling.p, cfg.sampling.k, steps)


def pair_list_generator(
    data: LabeledDataset, batch_size: int, shuffle: bool = True
) -> PairListGenerator:
    """The listed pairs of a part split by ``training.splits.pair_list_split``."""
    pairs = data.meta["pairs"]
    return PairListGenerator(
        data.labels, pairs["i"], pairs["j"], pairs["same"], batch_size, shuffle=shuffle
    )


def build_miner(cfg: RunConfig, objective: Any) -> Any:
    """The in-batch miner ``[mining] strategy`` names (``None`` for none or a sequenced one)."""
    if cfg.mining.strategy not in ONLINE_MINERS:
        return None
    from siamese.mining import create_online_miner

    if cfg.mining.strategy == "scheduled":
        return scheduled_miner(cfg, objective)

    margin = (
        cfg.mining.margin if cfg.mining.margin is not None else getattr(objective, "margin", 0.2)
    )
    return create_online_miner(cfg.mining.strategy, margin=margin, distance=objective.distance)


def scheduled_miner(cfg: RunConfig, objective: Any) -> Any:
    """The online scheduled-hardness miner of ``[mining] schedule`` and its curve's keys (the
    run's miner for strategy = "scheduled", and the gentler one a collapse recovery switches to)."""
    from siamese.mining import ScheduledMiner, schedule_from_settings

    schedule = schedule_from_settings(
        cfg.mining.schedule,
        threshold=cfg.mining.threshold,
        growth=cfg.mining.growth,
        midpoint=cfg.mining.midpoint,
        cycles=cfg.mining.cycles,
    )
    return ScheduledMiner(schedule, distance=objective.distance)


def prepare_run_dir(cfg: RunConfig, *, resume: bool, overwrite: bool) -> Path:
    """Create (or, with ``overwrite``, empty) the run folder, marked ``running``; refuse to mix
    two runs in one folder.

    Raises:
        ConfigError: the folder holds a run (finished, failed or interrupted: the message says
            what to pass), or ``resume`` without a checkpoint.
    """
    run_dir = cfg.run_dir
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} is a file; remove it or set another name")
    has_checkpoint = (run_dir / "checkpoints" / "last.json").exists()
    record = run_status.read_status(run_dir) if run_dir.is_dir() else None
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        if not overwrite:
            if record is not None and record.get("status") != "finished":
                raise ConfigError(run_status.unfinished_message(run_dir, record, has_checkpoint))
            raise ConfigError(
                f"run folder {run_dir} already exists; pass --resume to continue it, --overwrite to "
                "replace it, or --set name=<new name>"
            )
        shutil.rmtree(run_dir)
    if resume and not has_checkpoint:
        failed = "" if record is None else f" (the last run is {record.get('status')})"
        raise ConfigError(
            f"--resume: no checkpoint in {run_dir / 'checkpoints'}{failed}; start without "
            "--resume, with --overwrite if the folder exists"
        )
    if resume:  # a damaged checkpoint is refused before the folder is marked running
        verify_checkpoint(run_dir / "checkpoints" / "last")
    run_dir.mkdir(parents=True, exist_ok=True)
    run_status.start(run_dir)  # failed / finished: written by @run_status.tracked
    return run_dir


def train_run(
    cfg: RunConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    console: Any = None,
    progress_override: bool | None = None,
) -> TrainedRun:
    """Train the job ``cfg`` describes into ``<out_dir>/<name>/``: config, dataset description,
    checkpoints, metrics and the trained model (``siamese.pipeline.train_from_config`` then
    evaluates it and writes the report).

    Raises:
        SiameseError: bad config or data (nothing is written then: the run folder is created
            only once the config is valid and the data is read). A run that fails after that
            is marked ``failed`` in its ``status.json``.
    """
    from siamese.training.config_checks import check_config, data_errors, raise_all

    check_config(cfg)  # also for configs built in code, not read by load_config
    if cfg.training.threads > 0:
        torch.set_num_threads(cfg.training.threads)
    # one process, or this rank of a torchrun job, on training.device ("cuda" without a GPU: refused)
    ctx = DistributedContext.from_env(device=cfg.training.device)
    seed_everything(cfg.seed)
    dataset, parts, split_used = load_splits(cfg)
    raise_all(data_errors(cfg, parts))  # e.g. evaluation.n_way against the test classes
    train, val = parts["train"], parts.get("val")
    info = {
        "class_names": dataset.class_names,
        "kind": dataset.kind,
        "item_shape": list(dataset.item_shape),
        "item_dtype": str(dataset.items.dtype),
        "image": preparation_record(dataset.meta.get("image"), cfg.data.crop, dataset.kind),
        "split": split_used,
        "split_classes": {
            k: sorted({dataset.class_names[c] for c in np.unique(v.labels)})
            for k, v in parts.items()
        },
        "objective": None,
        "config": to_dict(cfg),
        "library_version": siamese.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
    }
    seed_everything(cfg.seed)
    model, objective = build_model(cfg, train, info)
    margin_record = None
    if hasattr(objective, "margin"):  # measured on the untrained model; "auto" sets it
        untrained = sample_distances(model, train, objective.distance, cfg.seed)
        bound = distance_bound(
            objective.distance.name,
            cfg.model.args.get("output_activation"),
            int(getattr(model.encoder, "embedding_dim", 0) or 0),
        )
        margin_record = fit_margin(
            cfg.objective.name, cfg.objective.margin, objective, untrained, bound
        )
    model.info["objective"] = objective.config()
    steps = cfg.training.steps_per_epoch
    generator = build_generator(
        cfg,
        train,
        epochs=cfg.training.epochs,
        steps=steps,
        objective_margin=getattr(objective, "margin", None),
    )
    val_generator = None
    if val is not None and len(val) and cfg.sampling.kind == "pair_list":
        # every held-out pair, in list order, each epoch
        val_generator = pair_list_generator(val, cfg.sampling.batch_size, shuffle=False)
    elif val is not None and len(val):
        try:
            kind_gen = PairGenerator if objective.tuple_kind == "pairs" else TripletGenerator
            val_generator = kind_gen(val.labels, cfg.sampling.batch_size, cfg.training.val_batches)
        except SiameseError:
            val_generator = None  # validation classes without positives: accuracy only
    augment = build_augment(cfg, dataset.kind)  # config errors before anything is written
    # rank 0 prepares the folder and writes every file; the other ranks wait, then only train
    run_dir = (
        prepare_run_dir(cfg, resume=resume, overwrite=overwrite) if ctx.is_main else cfg.run_dir
    )
    ctx.barrier()
    if ctx.is_main:
        atomic_write_json(run_dir / "config.json", to_dict(cfg))
        atomic_write_json(
            run_dir / "dataset.json",
            {
                "source": cfg.data.source,
                "split": split_used,
                "dataset": dataset.describe(),
                "splits": {k: v.describe() for k, v in parts.items()},
                "meta": {
                    k: v
                    for k, v in dataset.meta.items()
                    if isinstance(v, (str, int, float, list, dict)) and k not in ("pairs",)
                },
            },
        )
    es = None
    if cfg.training.early_stopping and val is not None:
        es = EarlyStopping(cfg.training.monitor, cfg.training.min_delta, cfg.training.patience)
    trainer = Trainer(
        model,
        objective,
        generator,
        train,
        val=val,
        val_generator=val_generator,
        miner=build_miner(cfg, objective),
        optimizer=cfg.training.optimizer,
        learning_rate=cfg.training.learning_rate,
        weight_decay=cfg.training.weight_decay,
        dense_weight_decay=cfg.training.dense_weight_decay,
        momentum=cfg.training.momentum,
        lr_schedule=cfg.training.lr_schedule,
        grad_clip=cfg.training.grad_clip,
        epochs=cfg.training.epochs,
        early_stopping=es,
        restore_best=cfg.training.restore_best,
        on_collapse=cfg.training.on_collapse,
        recovery=CollapseRecovery(
            gentle_miner=scheduled_miner(cfg, objective)
            if objective.tuple_kind == "triplets"
            else None
        ),
        n_way=cfg.evaluation.n_way,
        k_shot=cfg.evaluation.k_shot,
        val_episodes=cfg.evaluation.val_episodes,
        val_pairs=min(cfg.evaluation.pairs, 1000),
        snapshot_items=cfg.training.snapshot_items,
        refresh_every=cfg.mining.refresh_every,
        augment=augment,
        run_dir=run_dir,
        seed=cfg.seed,
        console=console,
        progress=cfg.training.progress if progress_override is None else progress_override,
        distributed=ctx,
        backbone=backbone_schedule(cfg, model),
        precision=cfg.training.precision,
    )
    t0 = time.perf_counter()
    history = trainer.fit(resume=resume)
    train_seconds = sum(r.get("seconds", 0.0) for r in history)
    model.info["training"] = {
        "epochs_run": history[-1]["epoch"],
        "best_epoch": None if es is None else es.best_epoch,
        "stopped_reason": trainer.stopped_reason,
        "seconds": round(train_seconds, 2),
        "seconds_this_process": round(time.perf_counter() - t0, 2),
        "collapse": collapse_summary(history, trainer.stopped_reason),
    }
    ctx.close()  # the process group is not needed after training
    if not ctx.is_main:
        return TrainedRun(run_dir, model, history, parts, is_main=False)
    if margin_record is not None:
        trained = sample_distances(model, train, objective.distance, cfg.seed)
        atomic_write_json(run_dir / "margin.json", {**margin_record, "trained": histogram(trained)})
    model.test_time_shift = cfg.evaluation.test_time_shift  # after training: evaluation, use
    model.save(run_dir)
    return TrainedRun(run_dir, model, history, parts)
