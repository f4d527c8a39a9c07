"""Two CPU processes (gloo) train exactly like one process with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from _limits import HANG_S
from safetensors.torch import load_file
from tiny_runs import TINY_TRAFFIC_MODEL

from siamese.data import LabeledDataset
from siamese.data.augment import ImageAugment
from siamese.encoders import create_encoder
from siamese.model import SiameseModel
from siamese.pipeline import train_from_config
from siamese.seed import derived_rng, epoch_torch_seeds
from siamese.training import load_config
from siamese.training.distributed import DistributedContext, distributed_embed
from siamese.training.prefetch import Prefetcher

SETTINGS = [
    *TINY_TRAFFIC_MODEL,
    "training.steps_per_epoch=3",
    "training.progress=false",
    "training.val_batches=2",
    "training.patience=10",
    "training.snapshot_items=0",
    "evaluation.episodes=20",
    "evaluation.val_episodes=10",
    "evaluation.pairs=50",
    "sampling.kind=pk",
    "sampling.p=5",
    "sampling.k=3",  # 15 unique items: shards of 8 and 7, so uneven slices are exercised
    "objective.name=triplet",
    # SGD: Adam divides by the gradient's running size, which turns float round-off on parameters
    # whose true gradient is zero (the last bias under a translation-invariant loss) into lr-sized
    # steps, so a bit-level comparison of two summation orders would only measure that noise.
    "training.optimizer=sgd",
    "training.learning_rate=0.05",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(tmp_path: Path, name: str, epochs: int, extra: list[str]) -> None:
    sets = [f'name="{name}"', f'out_dir="{tmp_path}"', f"training.epochs={epochs}", *SETTINGS]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "siamese",
        "train",
    ]
    for item in sets:
        cmd += ["--set", item]
    # TMPDIR: torchrun's own log folder (torchelastic_*) is made there and never removed
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)}
    done = subprocess.run(cmd + extra, capture_output=True, text=True, env=env, timeout=HANG_S)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def _losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x).get("train_loss") or 0.0 for x in lines]


def test_two_processes_equal_one_process_and_resume(tmp_path):
    """3 epochs in one process == 2 epochs on 2 processes (torchrun), resumed on 2 for the 3rd."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same kernels as the 1-thread workers
    try:
        single = train_from_config(
            load_config(
                None, ['name="one"', f'out_dir="{tmp_path}"', "training.epochs=3", *SETTINGS]
            ),
            report=False,
        )
    finally:
        torch.set_num_threads(threads)
    _torchrun(tmp_path, "two", 2, [])  # 2 epochs, then resumed to 3 by a second 2-process job
    assert (tmp_path / "two" / "checkpoints" / "last.json").exists()
    _torchrun(tmp_path, "two", 3, ["--resume"])
    two = tmp_path / "two"
    np.testing.assert_allclose(_losses(two), _losses(single.run_dir), rtol=1e-4, atol=1e-6)
    w1, w2 = load_file(single.run_dir / "model.safetensors"), load_file(two / "model.safetensors")
    assert w1.keys() == w2.keys()
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-4, atol=1e-5)
    val1 = [json.loads(x).get("val_accuracy") for x in (single.run_dir / "metrics.jsonl").open()]
    val2 = [json.loads(x).get("val_accuracy") for x in (two / "metrics.jsonl").open()]
    assert val1 == pytest.approx(val2, abs=1e-6)
    assert (two / "evaluation.json").exists() and not list(two.glob("*.tmp*"))


def _tiny(batch_norm: bool = True) -> tuple[SiameseModel, LabeledDataset]:
    torch.manual_seed(0)
    model = SiameseModel(
        create_encoder("mlp", input_shape=(6,), hidden=[8], embedding_dim=3, batch_norm=batch_norm)
    )
    items = np.random.default_rng(0).normal(size=(11, 6)).astype(np.float32)
    labels = np.arange(11) % 3
    data = LabeledDataset(items, labels, ["a", "b", "c"], [f"row {i}" for i in range(11)])
    return model, data


def _join(rank: int, port: int) -> DistributedContext:
    """Join a 2-process gloo job on 127.0.0.1:``port`` as ``rank`` (the variables torchrun sets)."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
    )
    return DistributedContext.from_env()


def _embed_worker(rank: int, port: int, out: str) -> None:
    ctx = _join(rank, port)
    model, data = _tiny()
    np.save(f"{out}_{rank}.npy", distributed_embed(model, data, ctx, batch_size=4))
    ctx.close()


def test_distributed_embed_shards_and_gathers(tmp_path):
    """11 items over 2 ranks (6 + 5): every rank gets all 11 embeddings, in dataset order."""
    mp.spawn(_embed_worker, args=(_free_port(), str(tmp_path / "emb")), nprocs=2, join=True)
    model, data = _tiny()
    expected = model.embed_dataset(data)
    for rank in (0, 1):
        got = np.load(tmp_path / f"emb_{rank}.npy")
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def _gloo_threads() -> list[str]:
    """Names of this process's native threads that belong to gloo (Linux: /proc/self/task)."""
    names = []
    for task in Path("/proc/self/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:  # the thread ended meanwhile
            continue
    return sorted(n for n in names if "gloo" in n)


def _close_worker(rank: int, port: int, out: str) -> None:
    ctx = _join(rank, port)
    model, data = _tiny(batch_norm=False)  # batch-norm statistics would be per shard
    net = ctx.wrap(model)  # kept alive past close(), as the trainer keeps it
    part = ctx.shard(len(data))
    x = torch.as_tensor(data.load(np.arange(part.start, part.stop)))  # this rank's rows
    emb = ctx.gather(net(x), len(data))  # (11, 3)
    emb.pow(2).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    before = _gloo_threads()
    ctx.close()
    after = _gloo_threads()
    torch.save(
        {"before": before, "after": after, "grads": grads, "net": type(net).__name__},
        out + f"_{rank}.pt",
    )


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads threads from Linux /proc")
def test_close_ends_the_gloo_threads_and_gradients_are_averaged(tmp_path):
    """After close() no gloo thread is left to be torn down at interpreter exit (issue 25: rank 1
    aborted with `terminate called without an active exception`); the replica's gradients are the
    single process's gradients of the whole batch."""
    out = str(tmp_path / "close")
    mp.spawn(_close_worker, args=(_free_port(), out), nprocs=2, join=True)
    model, data = _tiny(batch_norm=False)
    emb = model(torch.as_tensor(data.load(np.arange(len(data)))))  # the workers' weights (seed 0)
    emb.pow(2).sum().backward()
    for rank in (0, 1):
        got = torch.load(out + f"_{rank}.pt")
        assert got["before"], "the job had gloo threads"
        assert got["after"] == [], got["after"]
        for g, p in zip(got["grads"], model.parameters(), strict=True):
            torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-6)


def test_single_process_context_is_identity():
    ctx = DistributedContext()
    assert not ctx.enabled and ctx.is_main and ctx.shard(7) == slice(0, 7)
    x = torch.ones(3, 2)
    assert ctx.gather(x, 3) is x
    assert DistributedContext(rank=1, world_size=2).shard(7) == slice(4, 7)
    assert DistributedContext(rank=0, world_size=3).shard_sizes(7) == [3, 2, 2]


def test_prefetcher_keeps_order_and_reraises():
    items = list(Prefetcher(iter(range(20)), lambda b: b * b, depth=3))
    assert items == [(i, i * i) for i in range(20)]
    assert list(Prefetcher(range(3), str, depth=0)) == [(0, "0"), (1, "1"), (2, "2")]

    def broken(b: int) -> int:
        if b == 4:
            raise ValueError("cannot decode item 4")
        return b

    with pytest.raises(ValueError, match="cannot decode item 4"):
        list(Prefetcher(range(10), broken, depth=2))


def test_ranks_draw_their_own_dropout_and_augmentation():
    """Each rank's slice of the global batch gets its own draws; a single process keeps its seeds."""
    single = epoch_torch_seeds(7, 3)
    assert single == (
        int(derived_rng(7, 3, 1).integers(2**62)),
        int(derived_rng(7, 3, 2).integers(2**62)),
    )
    ranks = [epoch_torch_seeds(7, 3, rank=r, world_size=2) for r in range(2)]
    assert ranks == [epoch_torch_seeds(7, 3, rank=r, world_size=2) for r in range(2)]  # fixed
    assert len({*ranks[0], *ranks[1]}) == 4  # no seed shared between ranks or between uses
    # the same image in the same position of two ranks' slices gets different transforms
    aug = ImageAugment(rotate=20.0, shift=0.1)
    img = torch.zeros(1, 1, 12, 12)
    img[..., 3:9, 5:7] = 255.0
    views = [aug(img, generator=torch.Generator().manual_seed(seed)) for _, seed in ranks]
    assert not torch.allclose(views[0], views[1])
