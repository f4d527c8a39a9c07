"""Training on several processes (``torchrun``): one global batch, sharded, gathered for the loss.

Every rank draws the same global batch from the same derived generator, embeds only its contiguous
slice of the batch's unique items, and all-gathers the embeddings *with gradient* (an autograd
all-gather whose backward all-reduces), so the objective (and any in-batch miner) sees the
whole global batch on every rank. Each rank computes the same loss; the all-gather's backward
sums ``world_size`` identical gradients into each slice, and the replica wrapper averages every
parameter's gradient over ``world_size`` ranks, so every parameter receives exactly the
single-process gradient of the global batch. A 2-process run with global batch B therefore follows
a 1-process run with batch B (up to floating-point summation order). Dropout masks and
augmentation are drawn per rank (each rank's slice gets its own draws,
``siamese.seed.epoch_torch_seeds``), so with them the two runs agree in distribution, not draw for
draw. Batch-norm statistics are per shard on CPU; on GPU (nccl) they are synchronised over ranks
with ``SyncBatchNorm``.

The replica wrapper is ``DistributedDataParallel`` under nccl. Under gloo it is
``_GradientAverage`` (rank 0's weights at the start, buffers before each forward, gradients
averaged as they are accumulated), because ``DistributedDataParallel`` keeps the default gloo
group alive after ``destroy_process_group``: the group's threads then outlive
``DistributedContext.close`` and are torn down while the interpreter exits, which aborts a rank
now and then (``terminate called without an active exception``). The group is also destroyed when
the process exits through an exception (an ``atexit`` hook), never left to interpreter teardown.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from siamese.errors import ConfigError
from siamese.training.device import resolve_device


@dataclass
class DistributedContext:
    """This process's place in a (possibly single-process) training job.

    The default instance is a single process: every method is then a no-op or the identity, so the
    trainer has one code path.

    Attributes:
        rank: this process's global rank (0 writes files).
        world_size: number of processes.
        local_rank: rank on this machine (selects the GPU under nccl).
        backend: ``"gloo"``, ``"nccl"`` or ``None`` (single process).
        device: where the model and batches live.
        owns_group: ``True`` when this context initialised the process group (and so closes it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False

    # ---------------------------------------------------------------- set-up
    @classmethod
    def from_env(cls, backend: str | None = None, device: str = "auto") -> DistributedContext:
        """Join the job torchrun describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_*``).

        With ``WORLD_SIZE`` unset or 1 (and no process group already initialised) this is a single
        process on ``device`` (``training.device``: auto, cpu or cuda). Otherwise the process group
        is initialised with ``backend`` unless it already exists. The default backend is nccl
        when every rank on this machine has a GPU of its own (rank ``LOCAL_RANK`` on GPU
        ``LOCAL_RANK``); with fewer GPUs than ranks (e.g. 2 processes on 1 GPU, which nccl
        refuses) it is gloo, the ranks sharing the GPUs round-robin; on the CPU it is gloo.

        Raises:
            ConfigError: ``device`` is unknown, or ``"cuda"`` without a GPU; ``WORLD_SIZE`` > 1
                but the rendezvous variables are missing.
        """
        if dist.is_available() and dist.is_initialized():
            return cls._from_group(owns=False)
        on = resolve_device(device)  # "cuda" without a GPU: refused before anything starts
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(device=on)
        missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise ConfigError(
                f"WORLD_SIZE={world} but {', '.join(missing)} not set; start the job with "
                "`torchrun --nproc_per_node=N -m siamese train --config ...`"
            )
        backend, on = rank_placement(on, backend)
        if on.type == "cuda":
            torch.cuda.set_device(on)
        dist.init_process_group(backend=backend)
        ctx = cls._from_group(owns=True, device=on)
        atexit.register(ctx.close)  # every path destroys the group while Python is fully alive
        return ctx

    @classmethod
    def _from_group(cls, owns: bool, device: torch.device | None = None) -> DistributedContext:
        backend = str(dist.get_backend())
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device is None:
            device = torch.device("cuda", local) if backend == "nccl" else torch.device("cpu")
        return cls(dist.get_rank(), dist.get_world_size(), local, backend, device, owns)

    def close(self) -> None:
        """Destroy the process group if this context created it (its threads end here).

        Idempotent: ``train_from_config`` calls it after training and the ``atexit`` hook again.
        """
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, metrics, the model and the report."""
        return self.rank == 0

    # ---------------------------------------------------------------- sharding
    def shard_sizes(self, total: int) -> list[int]:
        """Items per rank when ``total`` items are split contiguously (``np.array_split`` sizes)."""
        base, extra = divmod(int(total), self.world_size)
        return [base + (1 if r < extra else 0) for r in range(self.world_size)]

    def shard(self, total: int) -> slice:
        """This rank's contiguous slice of ``total`` items."""
        sizes = self.shard_sizes(total)
        start = sum(sizes[: self.rank])
        return slice(start, start + sizes[self.rank])

    # ---------------------------------------------------------------- model
    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` as a replica whose gradients are averaged over ranks; itself when single.

        Under nccl: ``DistributedDataParallel`` (with ``SyncBatchNorm``). Under gloo:
        ``_GradientAverage``, which holds no reference to the process group (see the module
        docstring), so ``close`` ends the group's threads.
        """
        if not self.enabled:
            return model
        model.to(self.device)
        if self.backend != "nccl":
            return _GradientAverage(model, self.world_size)
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index])

    def gather(self, local: torch.Tensor, total: int) -> torch.Tensor:
        """All-gather each rank's ``(n_r, ...)`` rows into ``(total, ...)``, keeping the gradient.

        Ranks may hold one row more or less than others (contiguous shards of ``total``); rows are
        padded to equal length for the collective and cut again.
        """
        if not self.enabled:
            return local
        sizes = self.shard_sizes(total)
        pad = local.new_zeros((max(sizes) - local.shape[0], *local.shape[1:]))
        full = _AllGather.apply(torch.cat([local, pad]))  # (world_size * max_n, ...)
        parts = full.split(max(sizes))
        return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])  # (total, ...)

    def gather_array(self, local: np.ndarray, total: int) -> np.ndarray:
        """All-gather ``(n_r, D)`` float arrays (no gradient) into ``(total, D)`` on every rank."""
        if not self.enabled:
            return local
        # every collective's tensors on the context's device (nccl takes CUDA tensors only)
        width = torch.tensor([local.shape[1] if local.ndim == 2 and len(local) else 0])
        width = width.to(self.device)
        dist.all_reduce(width, op=dist.ReduceOp.MAX)
        width = int(width.item())
        rows = torch.as_tensor(local, dtype=torch.float32).reshape(len(local), width)
        sizes = self.shard_sizes(total)
        pad = rows.new_zeros((max(sizes) - len(rows), width))
        parts = [torch.empty(max(sizes), width, device=self.device) for _ in range(self.world_size)]
        dist.all_gather(parts, torch.cat([rows, pad]).to(self.device))
        return torch.cat(
            [p[:n].cpu() for p, n in zip(parts, sizes, strict=True)]
        ).numpy()  # (total, D)

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm running statistics) to every rank."""
        if self.enabled:
            for buf in model.buffers():
                dist.broadcast(buf.data, src=0)

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.enabled:
            dist.barrier()

    def reduce_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """Average ``train_*`` figures over ranks; take the slowest rank's ``seconds``."""
        if not self.enabled:
            return record
        mean_keys = sorted(
            k
            for k, v in record.items()
            if k.startswith("train_") and k != "train_seconds" and isinstance(v, float)
        )
        max_keys = [k for k in ("seconds", "train_seconds") if isinstance(record.get(k), float)]
        out = dict(record)
        if mean_keys:
            t = torch.tensor(
                [record[k] for k in mean_keys], dtype=torch.float64, device=self.device
            )
            dist.all_reduce(t)
            out.update(
                {k: float(v) / self.world_size for k, v in zip(mean_keys, t.tolist(), strict=True)}
            )
        if max_keys:
            t = torch.tensor([record[k] for k in max_keys], dtype=torch.float64, device=self.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            out.update(dict(zip(max_keys, t.tolist(), strict=True)))
        return out


class _GradientAverage(nn.Module):
    """A replica of ``module`` in a gloo job: what ``DistributedDataParallel`` does, without it.

    At construction every parameter and buffer is broadcast from rank 0; before each forward the
    buffers are (``DistributedDataParallel``'s ``broadcast_buffers=True``); as each parameter's
    gradient is accumulated in backward it is divided by ``world_size`` and all-reduced (summed),
    i.e. averaged over ranks as ``DistributedDataParallel`` does. Every rank runs the same graph
    (the same loss on the gathered global batch), so the hooks fire in the same order on every
    rank; the trainer runs one backward per optimizer step (``.grad`` is reset in between). The
    default process group is looked up at each collective, never stored.
    """

    def __init__(self, module: nn.Module, world_size: int):
        super().__init__()
        self.module = module
        self.world_size = int(world_size)
        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)
        for param in module.parameters():
            if param.requires_grad:
                param.register_post_accumulate_grad_hook(self._average)

    def _average(self, param: torch.Tensor) -> None:
        if not dist.is_initialized():  # the job has ended: the model is a single process's again
            return
        grad = param.grad
        grad.div_(self.world_size)
        dist.all_reduce(grad)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        for buf in self.module.buffers():
            dist.broadcast(buf.data, src=0)
        return self.module(*args, **kwargs)


class _AllGather(torch.autograd.Function):
    """All-gather rows; backward sums every rank's gradient of this rank's rows (all-reduce).

    An all-reduce works on every backend (gloo has no reduce-scatter); embeddings are small.
    """

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor) -> torch.Tensor:  # (m, ...) -> (W * m, ...)
        ctx.m, ctx.rank = rows.shape[0], dist.get_rank()
        parts = [torch.empty_like(rows) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, rows.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # (W * m, ...) -> (m, ...)
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.m : (ctx.rank + 1) * ctx.m]


def rank_placement(device: torch.device, backend: str | None = None) -> tuple[str, torch.device]:
    """The backend and this rank's device for a torchrun job on ``device``'s kind.

    On the CPU: gloo. On CUDA: nccl with GPU ``LOCAL_RANK`` when this machine has a GPU per
    local rank (``LOCAL_WORLD_SIZE``); otherwise gloo, rank ``LOCAL_RANK`` on GPU
    ``LOCAL_RANK % device_count`` (nccl refuses two ranks on one GPU). ``backend`` overrides
    the choice of backend.
    """
    if device.type != "cuda":
        return backend or "gloo", torch.device("cpu")
    gpus = torch.cuda.device_count()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    own = gpus >= local_world
    return backend or ("nccl" if own else "gloo"), torch.device("cuda", local % max(gpus, 1))


def distributed_embed(
    model: Any, dataset: Any, context: DistributedContext | None = None, *, batch_size: int = 256
) -> np.ndarray:
    """Embed a whole dataset with the work spread over the ranks of a running job.

    Each rank embeds its contiguous shard with ``model.embed_dataset``; the shards are all-gathered
    so every rank returns the full ``(N, D)`` array in dataset order. Without a process group
    this is ``model.embed_dataset(dataset)``.

    Args:
        model: a ``SiameseModel`` (or a DDP wrapper around one).
        dataset: a ``LabeledDataset`` (lazy image stores load only the rank's shard).
        context: the job (default: the process group already initialised, if any).
        batch_size: items per forward pass.

    Returns:
        ``(N, D)`` float32 embeddings, identical on every rank.
    """
    model = getattr(model, "module", model)
    if context is None:
        joined = dist.is_available() and dist.is_initialized()
        context = DistributedContext._from_group(owns=False) if joined else DistributedContext()
    if not context.enabled:
        return model.embed_dataset(dataset, batch_size=batch_size)
    part = context.shard(len(dataset))
    local = model.embed_dataset(
        dataset.subset(np.arange(part.start, part.stop)), batch_size=batch_size
    )
    return context.gather_array(local, len(dataset)).astype(np.float32)
