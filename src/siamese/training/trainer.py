"""The Trainer: one loop for every objective, sampler and miner."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from siamese._io import atomic_write_text
from siamese.data.labeled_dataset import LabeledDataset
from siamese.errors import ConfigError
from siamese.evaluation.model_evaluation import (
    can_pair,
    fixed_subset,
    one_shot_metrics,
    pair_scores,
)
from siamese.evaluation.verification import roc_auc
from siamese.model import SiameseModel
from siamese.objectives._base import Objective
from siamese.sampling._batch import Batch, BatchGenerator
from siamese.seed import derived_rng, epoch_torch_seeds
from siamese.training.checkpoint import load_best, load_checkpoint, save_checkpoint, weights_of
from siamese.training.collapse import WINDOW, CollapseDetector, batch_stats
from siamese.training.device import to_device
from siamese.training.distributed import DistributedContext, distributed_embed
from siamese.training.early_stopping import EarlyStopping
from siamese.training.fine_tune import BackboneSchedule
from siamese.training.optim import build_optimizer, build_scheduler, check_precision
from siamese.training.prefetch import Prefetcher
from siamese.training.recovery import CollapseRecovery

VAL_SEED_KEY = 999_983  # derived_rng(seed, VAL_SEED_KEY): the same validation batches every epoch


class Trainer:
    """Trains a ``SiameseModel`` and writes everything into ``run_dir``.

    Each step embeds the batch's unique items once and hands the objective index tuples into that
    batch (from the generator, an online miner, or every valid tuple of a P x K batch). Each epoch
    draws its batches from ``derived_rng(seed, epoch)`` and seeds torch (dropout) and the
    augmentation with ``(seed, epoch)`` (and the rank, under torchrun: ``epoch_torch_seeds``), so
    a run resumed from the checkpoint of epoch e replays epochs e+1... exactly.

    Files written: ``metrics.jsonl`` (one line per epoch), ``checkpoints/last.*`` (each epoch,
    with the best epoch's weights in the same atomic unit), ``snapshots/epoch_XXXX.npy``
    (validation embeddings).
    """

    def __init__(
        self,
        model: SiameseModel,
        objective: Objective,
        generator: BatchGenerator,
        train: LabeledDataset,
        *,
        val: LabeledDataset | None = None,
        val_generator: BatchGenerator | None = None,
        miner: Any = None,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        dense_weight_decay: float = -1.0,
        momentum: float = 0.9,
        lr_schedule: str = "none",
        grad_clip: float = 0.0,
        epochs: int = 10,
        early_stopping: EarlyStopping | None = None,
        restore_best: bool = True,
        on_collapse: str = "recover",
        recovery: CollapseRecovery | None = None,
        n_way: int = 5,
        k_shot: int = 1,
        val_episodes: int = 100,
        val_pairs: int = 1000,
        snapshot_items: int = 300,
        refresh_every: int = 0,
        augment: Any = None,
        run_dir: str | Path | None = None,
        seed: int = 0,
        progress: bool = True,
        console: Any = None,
        distributed: DistributedContext | None = None,
        prefetch: int = 2,
        precision: str = "float32",
        backbone: BackboneSchedule | None = None,
    ):
        self.model, self.objective, self.generator = model, objective, generator
        self.train, self.val, self.val_generator, self.miner = train, val, val_generator, miner
        self.epochs, self.grad_clip, self.seed = int(epochs), float(grad_clip), int(seed)
        self.early_stopping, self.restore_best, self.on_collapse = (
            early_stopping,
            restore_best,
            on_collapse,
        )
        self.n_way, self.k_shot, self.val_episodes, self.val_pairs = (
            n_way,
            k_shot,
            val_episodes,
            val_pairs,
        )
        self.snapshot_items, self.refresh_every = snapshot_items, refresh_every
        self.augment = augment  # callable on training batches only (images or series)
        self.aug_generator = torch.Generator().manual_seed(seed)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress, self.console = progress, console
        # torchrun: each rank embeds its slice of the global batch (DDP); rank 0 writes files.
        self.dist = distributed or DistributedContext()
        model.to(self.dist.device)  # once, before the optimiser holds the parameters (CPU: no-op)
        self.net = self.dist.wrap(model)
        self.progress = progress and self.dist.is_main  # one progress bar per job
        self.prefetch = int(prefetch)  # batches loaded ahead in a background thread (0: off)
        self.autocast = check_precision(precision, self.dist.device)  # bf16 training steps only
        self.data_wait_seconds = 0.0  # time the loop waited for data (all epochs of this process)
        # fine-tuning: a frozen backbone first, layer-wise learning rates (siamese.training.fine_tune)
        self.backbone = backbone
        if backbone is not None and backbone.freeze_epochs and self.dist.world_size > 1:
            raise ConfigError(
                "training.freeze_backbone_epochs: not with torchrun (DistributedDataParallel "
                "fixes the trained parameters when it starts); train the head first on one "
                "process, then fine-tune from that run with model.init_from"
            )
        self.optimizer = build_optimizer(
            model,
            optimizer,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            momentum=momentum,
            groups=None if backbone is None else backbone.param_groups(learning_rate),
            dense_weight_decay=dense_weight_decay,
        )
        self.scheduler = build_scheduler(
            self.optimizer, lr_schedule, epochs=epochs, learning_rate=learning_rate
        )
        total_steps = self.epochs * generator.steps_per_epoch
        self.collapse = CollapseDetector(
            getattr(objective, "margin", None), warmup=max(WINDOW, total_steps // 10)
        )
        # on_collapse = "recover": roll back to the last healthy epoch and continue more gently
        self.recovery = recovery or CollapseRecovery()
        self._distance = getattr(objective, "distance", None) or model.distance
        self._online = False  # the last training batch had no tuples of its own (miner or all)
        self.history: list[dict[str, Any]] = []
        self.val_idx = None if val is None else fixed_subset(len(val), 2000, seed)
        self.global_step = 0
        self.stopped_reason = "max_epochs"

    # ------------------------------------------------------------------ paths
    def _path(self, *parts: str) -> Path | None:
        return None if self.run_dir is None else self.run_dir.joinpath(*parts)

    def _write_metrics(self) -> None:
        path = self._path("metrics.jsonl")
        if path is not None and self.dist.is_main:
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in self.history))

    # ------------------------------------------------------------------ one step
    def _tensors(
        self, data: LabeledDataset, batch: Batch
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # this rank's slice of the global batch (all of it in a single process)
        idx = batch.indices[self.dist.shard(len(batch.indices))]
        # CUDA: pinned host memory, non-blocking copy (in the prefetch thread); CPU: x itself
        x = to_device(torch.as_tensor(data.load(idx)), self.dist.device)
        lens = None if data.lengths is None else torch.as_tensor(data.lengths[idx])  # host
        return x, lens

    def _loss(
        self, data: LabeledDataset, batch: Batch, tensors: tuple | None = None
    ) -> torch.Tensor:
        x, lens = tensors if tensors is not None else self._tensors(data, batch)
        if self.augment is not None and self.model.training and data is self.train:
            x = self._augment(x, lens)
        with torch.autocast(x.device.type, torch.bfloat16, self.autocast and self.model.training):
            emb = self.net(x, lens)
        emb = self.dist.gather(emb.float(), len(batch.indices))  # (U, D): the global batch
        labels = torch.as_tensor(batch.labels, device=emb.device)
        tuples = (
            None
            if batch.tuples is None
            else tuple(torch.as_tensor(t, device=emb.device) for t in batch.tuples)
        )
        if tuples is None and self.miner is not None:
            if hasattr(self.miner, "set_progress"):  # scheduled hardness: where training is
                self.miner.set_progress(
                    self.global_step, self.epochs * self.generator.steps_per_epoch
                )
            tuples = self.miner.mine(emb.detach(), labels)
            if hasattr(self.miner, "last_hardness"):  # per-triplet target / achieved hardness
                batch.hardness, batch.achieved = self.miner.last_hardness
        loss = self.objective(emb, labels, tuples, head=self.model.head)
        if self.model.training and data is self.train:
            self._online = batch.tuples is None
            self._step_inputs = (emb, labels, tuples)  # for the collapse monitor
        return loss

    def _augment(self, x: torch.Tensor, lens: torch.Tensor | None) -> torch.Tensor:
        """Training-batch augmentation, drawn from a generator seeded per epoch (resumable)."""
        if getattr(self.augment, "takes_lengths", False):
            return self.augment(x, lens, generator=self.aug_generator)
        return self.augment(x, generator=self.aug_generator)

    def _embed_train_fn(self):
        # a generator may ask for only some items (e.g. a few per class), in its order
        idx = getattr(self.generator, "refresh_indices", None)
        data = self.train if idx is None else self.train.subset(idx)
        return lambda: distributed_embed(self.model, data, self.dist)

    # ------------------------------------------------------------------ validation
    def _validate(self) -> tuple[dict[str, Any], np.ndarray | None]:
        out: dict[str, Any] = {}
        # every rank validates with rank 0's batch-norm statistics
        self.dist.broadcast_buffers(self.model)
        if self.val is None or len(self.val) == 0:
            return out, None
        self.model.eval()
        if self.val_generator is not None:
            losses = []
            with torch.no_grad():
                for batch in self.val_generator.epoch(derived_rng(self.seed, VAL_SEED_KEY)):
                    losses.append(float(self._loss(self.val, batch)))
            out["val_loss"] = float(np.mean(losses)) if losses else None
        sub = self.val.subset(self.val_idx)
        emb = distributed_embed(self.model, sub, self.dist)  # sharded over ranks, gathered
        labels = sub.labels
        acc = one_shot_metrics(
            emb,
            labels,
            self.model.distance,
            n_way=self.n_way,
            k_shot=self.k_shot,
            episodes=self.val_episodes,
            seed=self.seed,
        )
        if acc:
            out["val_accuracy"] = acc["accuracy"]
        if can_pair(labels):
            ps = pair_scores(self.model, emb, labels, self.val_pairs, self.seed)
            out["val_auc"] = roc_auc(ps["scores"], ps["same"])
        return out, emb

    def _snapshot(self, epoch: int, emb: np.ndarray | None) -> None:
        if emb is None or self.snapshot_items <= 0 or self.run_dir is None or not self.dist.is_main:
            return
        labels = self.val.labels[self.val_idx]
        pos = _snapshot_positions(labels, self.snapshot_items)
        # items.json: positions of the snapshot items in the validation split
        _save_snapshot(self.run_dir / "snapshots", epoch, emb[pos], labels[pos], self.val_idx[pos])

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = False) -> list[dict[str, Any]]:
        """Train for up to ``epochs`` epochs (continuing from the last checkpoint if ``resume``)."""
        start_epoch = 1
        ckpt = self._path("checkpoints", "last")
        if resume and ckpt is not None and ckpt.with_suffix(".json").exists():
            loop = load_checkpoint(ckpt, self.model, self.optimizer, self.scheduler)
            self.history = loop["history"]
            self.global_step = loop["global_step"]
            if self.early_stopping is not None and loop.get("early_stopping"):
                self.early_stopping.load_state_dict(loop["early_stopping"])
            self.collapse.load_state_dict(loop.get("collapse", {}))
            self.recovery.load_state_dict(loop.get("recovery") or {})
            if self.recovery.switched:
                self.miner = self.recovery.gentle_miner
            if loop.get("miner") and hasattr(self.miner, "load_state_dict"):
                self.miner.load_state_dict(loop["miner"])
            # the checkpoint is healthy, or the roll-back target itself (weights and moments)
            self.recovery.remember(self.recovery.healthy_epoch, self.model, self.optimizer)
            if loop.get("generator") and hasattr(self.generator, "load_state_dict"):
                self.generator.load_state_dict(loop["generator"])
            start_epoch = loop["epoch"] + 1
            if loop.get("stopped"):
                start_epoch = self.epochs + 1
        else:
            metrics, emb = self._validate()
            self.collapse.check(emb, {})
            self.history = [{"epoch": 0, "step": 0, **metrics, "seconds": 0.0}]
            self.recovery.remember(0, self.model, self.optimizer)  # the untrained model
            self._snapshot(0, emb)
            if self.early_stopping is not None:
                self.early_stopping.update(0, metrics)
        self._write_metrics()
        if hasattr(self.generator, "refresh") and start_epoch <= self.epochs:
            self.generator.refresh(self._embed_train_fn())

        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
        ]
        with Progress(
            *columns, console=self.console, disable=not self.progress, transient=False
        ) as bar:
            for epoch in range(start_epoch, self.epochs + 1):
                if (
                    epoch > start_epoch
                    and self.refresh_every == 0
                    and hasattr(self.generator, "refresh")
                ):
                    # refresh_every = 0: re-mine once per epoch, from the model as it is now
                    self.generator.refresh(self._embed_train_fn())
                    self.model.train()
                record = self._train_epoch(epoch, bar)
                self.history.append(record)
                self._write_metrics()
                stop = self._end_of_epoch(epoch, record)
                if stop:
                    break
        if (
            self.restore_best
            and self.early_stopping is not None
            and self.early_stopping.best_epoch > 0
        ):
            ckpt = self._path("checkpoints", "last")
            self.dist.barrier()  # rank 0 has written it
            if ckpt is not None:
                load_best(ckpt, self.model)  # verified against the checkpoint's manifest
        self.model.eval()
        return self.history

    def _train_epoch(self, epoch: int, bar: Progress) -> dict[str, Any]:
        torch_seed, aug_seed = epoch_torch_seeds(
            self.seed, epoch, self.dist.rank, self.dist.world_size
        )
        torch.manual_seed(torch_seed)  # dropout masks
        self.aug_generator = torch.Generator().manual_seed(aug_seed)
        rng = derived_rng(self.seed, epoch)
        steps = self.generator.steps_per_epoch
        task = bar.add_task(f"epoch {epoch}/{self.epochs}", total=steps, status="")
        t0 = time.perf_counter()
        losses: list[float] = []
        stats: dict[str, list[float]] = {}
        hardness: list[float] = []
        achieved: list[float] = []
        self.model.train()
        frozen = self.backbone.apply(epoch) if self.backbone is not None else None
        # batches are loaded ahead in a thread, except when a refresh changes the generator mid-epoch
        refreshing = self.refresh_every > 0 and hasattr(self.generator, "refresh")
        loader = Prefetcher(
            self.generator.epoch(rng),
            lambda b: self._tensors(self.train, b),
            depth=0 if refreshing else self.prefetch,
        )
        for batch, tensors in loader:
            loss = self._loss(self.train, batch, tensors)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.optimizer.step()
            self.global_step += 1
            losses.append(float(loss.detach()))
            emb, labels, tuples = self._step_inputs  # embedded before this step's update
            self.collapse.observe(
                batch_stats(
                    emb, labels, self._distance, self.objective, tuples, self.model.head, losses[-1]
                )
            )
            for k, v in self.objective.last_stats.items():
                stats.setdefault(k, []).append(v)
            if batch.hardness is not None:
                hardness.append(float(np.mean(batch.hardness)))
            if getattr(batch, "achieved", None) is not None:
                achieved.append(float(np.mean(batch.achieved)))
            if (
                self.refresh_every > 0
                and self.global_step % self.refresh_every == 0
                and hasattr(self.generator, "refresh")
            ):
                self.generator.refresh(self._embed_train_fn())
                self.model.train()
            window = losses[-20:]
            bar.update(task, advance=1, status=f"loss {np.mean(window):.4f}")
        self.data_wait_seconds += loader.wait_seconds
        if self.scheduler is not None:
            self.scheduler.step()
        train_seconds = time.perf_counter() - t0
        metrics, emb = self._validate()
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": self.global_step,
            "train_loss": float(np.mean(losses)) if losses else None,
            **metrics,
            **{f"train_{k}": float(np.mean(v)) for k, v in stats.items()},
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            **({} if frozen is None else {"backbone_frozen": frozen}),
            "seconds": round(time.perf_counter() - t0, 3),
            "train_seconds": round(train_seconds, 3),
        }
        record = self.dist.reduce_record(record)  # averaged over ranks (identical when single)
        if hardness:
            record["hardness_target"] = float(np.mean(hardness))
        if achieved:
            record["hardness_achieved"] = float(np.mean(achieved))
        if emb is not None:
            record["spread"] = CollapseDetector.spread(emb)
        reasons = self.collapse.check(emb, {k: np.mean(v) for k, v in stats.items()})
        # the training-batch figures the detector decided on (medians of its window)
        record.update({f"batch_{k}": v for k, v in self.collapse.window_figures().items()})
        record["collapse"] = bool(reasons)
        if reasons:
            record["warnings"] = reasons
        status = f"loss {record['train_loss']:.4f}"
        if "val_accuracy" in record:
            status += f"  val acc {record['val_accuracy']:.3f}"
        if "val_loss" in record and record["val_loss"] is not None:
            status += f"  val loss {record['val_loss']:.4f}"
        if reasons:
            status += "  [bold yellow]COLLAPSE: " + "; ".join(reasons) + "[/]"
        bar.update(task, status=status)
        self._snapshot(epoch, emb)
        return record

    def _on_collapse(self, epoch: int, record: dict[str, Any]) -> bool:
        """Warn, stop, or roll back and continue gently; True when the run must stop."""
        why = "; ".join(record.get("warnings", []))
        if self.on_collapse == "recover" and not self.recovery.exhausted:
            self.miner, change = self.recovery.roll_back(
                self.model,
                self.optimizer,
                self.scheduler,
                miner=self.miner,
                generator=self.generator,
                step=self.global_step,
                online=self._online,
            )
            self.collapse.reset_window()
            record["recovery"] = {"epoch": epoch, "reasons": record.get("warnings", []), **change}
            self._say(
                f"COLLAPSE at epoch {epoch}: {why}. Recovering ({change['recovery']} of "
                f"{self.recovery.max_recoveries}): rolled back to epoch "
                f"{change['rolled_back_to_epoch']}, learning rate x{change['lr_factor']:g} -> "
                f"{change['lr']:.3g}"
                + (f", hardness {change['hardness']}" if "hardness" in change else "")
            )
            return False
        if self.on_collapse == "warn":
            self._say(f"COLLAPSE at epoch {epoch}: {why} (on_collapse = warn: training goes on)")
            return False
        self.stopped_reason = "collapse"
        self._say(f"COLLAPSE at epoch {epoch}: {why}. Training stops.")
        return True

    def _say(self, message: str) -> None:
        if not self.dist.is_main:
            return
        if self.console is not None:
            self.console.print(message, style="bold red", markup=False, highlight=False)
        else:
            warnings.warn(message, stacklevel=3)

    def _end_of_epoch(self, epoch: int, record: dict[str, Any]) -> bool:
        stop, best = False, None
        if self.early_stopping is not None:
            improved = self.early_stopping.update(epoch, record)
            if improved and self.run_dir is not None and self.dist.is_main:
                best = weights_of(self.model)  # committed with this epoch's checkpoint
            if self.early_stopping.should_stop:
                stop, self.stopped_reason = True, "early_stopping"
        if record.get("collapse"):
            stop = self._on_collapse(epoch, record) or stop
        elif self.on_collapse == "recover" and self.collapse.clearly_healthy():
            self.recovery.remember(epoch, self.model, self.optimizer)
        if math.isnan(record.get("train_loss") or 0.0):
            stop, self.stopped_reason = True, "nan_loss"
        ckpt = self._path("checkpoints", "last")
        if ckpt is not None and self.dist.is_main:
            loop = {
                "epoch": epoch,
                "global_step": self.global_step,
                "history": self.history,
                "early_stopping": None
                if self.early_stopping is None
                else self.early_stopping.state_dict(),
                "collapse": self.collapse.state_dict(),
                "recovery": self.recovery.state_dict(),
                "miner": self.miner.state_dict() if hasattr(self.miner, "state_dict") else None,
                "generator": self.generator.state_dict()
                if hasattr(self.generator, "state_dict")
                else None,
                "stopped": stop,
                "stopped_reason": self.stopped_reason if stop else None,
            }
            save_checkpoint(ckpt, self.model, self.optimizer, self.scheduler, loop, best=best)
        return stop


def _snapshot_positions(labels: np.ndarray, items: int, max_classes: int = 20) -> np.ndarray:
    """Positions of the items whose embeddings are saved (the same every epoch).

    At most ``max_classes`` classes spread evenly over the classes present, with an equal share of
    ``items`` each, so every frame shows several classes side by side.
    """
    classes = np.unique(labels)
    if len(classes) > max_classes:
        classes = classes[np.linspace(0, len(classes) - 1, max_classes).round().astype(int)]
    share = max(1, items // len(classes))
    pos = np.concatenate([np.flatnonzero(labels == c)[:share] for c in classes])
    return np.sort(pos)[:items]


def _save_snapshot(
    folder: Path, epoch: int, embeddings: np.ndarray, labels: np.ndarray, items: np.ndarray
) -> None:
    """Write ``epoch_XXXX.npy``; ``labels.npy`` and ``items.json`` (split positions) once: the
    frames of the report's embedding over time (``reporting.run_folder`` reads them)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"epoch_{epoch:04d}.npy", embeddings.astype(np.float32))
    if not (folder / "labels.npy").exists():
        np.save(folder / "labels.npy", labels)
        (folder / "items.json").write_text(json.dumps([int(i) for i in items]))
