"""Kill-then-resume equals an uninterrupted run bit for bit: every registered encoder, every mining
strategy, and a real SIGKILL between a checkpoint's two files.

Each case trains a tiny run uninterrupted, trains it again killed in the middle of epoch 3 (a
``KeyboardInterrupt`` raised inside a training step), resumes that with ``resume=True`` and
compares: ``metrics.jsonl`` (timing aside), ``evaluation.json``, the final weights, and the last
checkpoint's tensors (weights and optimizer state: the manifests record their SHA-256).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _limits import HANG_S
from hf_tiny import tiny_model_folder
from safetensors.numpy import load_file
from tiny_runs import TINY_TRAFFIC_MODEL, run_metrics

from siamese.encoders import list_encoders
from siamese.mining import ONLINE_STRATEGIES, SEQUENCED_STRATEGIES
from siamese.pipeline import train_from_config
from siamese.training import load_config
from siamese.training.run import ONLINE_MINERS
from siamese.training.trainer import Trainer

EPOCHS, STEPS = 3, 2
KILL_AT_STEP = 2 * STEPS + 1  # the second step of epoch 3: one step of it is lost with the process

COMMON = [
    f"training.epochs={EPOCHS}",
    f"training.steps_per_epoch={STEPS}",
    "training.progress=false",
    "training.val_batches=2",
    "training.patience=10",
    'training.lr_schedule="cosine"',  # the scheduler's state is part of the checkpoint
    "training.snapshot_items=20",
    "evaluation.episodes=20",
    "evaluation.val_episodes=10",
    "evaluation.pairs=50",
    "data.val_fraction=0.25",
    "data.test_fraction=0.25",
]
PK = ['sampling.kind="pk"', "sampling.p=3", "sampling.k=2"]
TRAFFIC = ["data.n_per_pattern=12", "data.length=24"]

# Tiny settings per registered encoder: its data ("traffic", or an .npz of "image65", "image16"
# or "vector" items) and its arguments. Dropout and batch norm where the encoder has them, so the
# per-epoch random state and the running statistics are resumed too.
ENCODER_RUNS = {
    "conv1d": (
        "traffic",
        ["model.channels=[8]", "model.kernels=[3]", "model.dropout=0.2", "model.embedding_dim=4"],
    ),
    "conv4": (
        "image16",
        [
            "model.channels=4",
            "model.embedding_dim=4",
            "model.dropout=0.2",
            "data.augment={rotate=10, shift=0.1}",  # the augmentation's random state
        ],
    ),
    "koch_cnn": (
        "image65",  # the smallest input its four fixed convolutions take (0.1 s per item)
        ["model.embedding_dim=4", "model.batch_norm=true", "model.dropout=0.2", "sampling.p=2"],
    ),
    "face_resnet": (
        "image103",  # the smallest input its four stride-2 stages take
        [
            "model.widths=[4, 4, 8, 8]",
            "model.embedding_dim=4",
            "sampling.p=2",
            'data.normalise="none"',
        ],
    ),
    "face_aligned": (
        "image65",  # landmarks, chip (150x150) and embedder: the landmark net is frozen
        [
            "model.widths=[4, 4, 8, 8]",
            "model.embedding_dim=4",
            "sampling.p=2",
            'data.normalise="none"',
        ],
    ),
    "hf_vision": (  # a tiny random ViT (hf_tiny), its 32x32 input resized from 16x16
        "image16",
        ['model.pooling="cls"', "model.embedding_dim=4", 'data.normalise="none"'],
    ),
    "lstm": ("traffic", [a for a in TINY_TRAFFIC_MODEL if a.startswith("model.")]),
    "mlp": (
        "vector",
        ["model.hidden=[8]", "model.embedding_dim=4", "model.dropout=0.2", "model.input_swap=0.1"],
    ),
}

# every strategy the config accepts, online and sequenced (the registries, so new ones are covered)
ONLINE = sorted(set(ONLINE_STRATEGIES) | set(ONLINE_MINERS))
SEQUENCED = [s for s in SEQUENCED_STRATEGIES if s not in ONLINE]


def _data(tmp_path: Path, kind: str) -> list[str]:
    """Config lines reading ``kind`` data: the traffic simulator, or an .npz written here."""
    if kind == "traffic":
        return TRAFFIC
    rng = np.random.default_rng(0)
    n_classes, per_class = (12, 2) if kind in ("image65", "image103") else (20, 4)  # 3 val classes
    shape = {"image16": (16, 16), "image65": (65, 65), "image103": (103, 103), "vector": (6,)}[kind]
    base = rng.normal(size=(n_classes, *shape))  # one pattern per class, items vary around it
    x = np.repeat(base, per_class, axis=0) + 0.5 * rng.normal(size=(n_classes * per_class, *shape))
    if kind != "vector":
        x = np.clip(128 + 40 * x, 0, 255).astype(np.uint8)
    file = tmp_path / f"{kind}.npz"
    np.savez(file, items=x.astype(x.dtype), labels=np.repeat(np.arange(n_classes), per_class))
    return ['data.source="arrays"', f'data.path="{file}"', 'data.normalise="global"']


def _config(tmp_path: Path, name: str, extra: list[str]):
    return load_config(None, [f'name="{name}"', f'out_dir="{tmp_path}"', *COMMON, *extra])


def _kill_during_step(monkeypatch, step: int) -> None:
    """Make the next run die inside training step ``step + 1`` (after ``step`` optimizer steps)."""
    original = Trainer._loss

    def dying(self, data, batch, tensors=None):
        if self.model.training and data is self.train and self.global_step == step:
            raise KeyboardInterrupt  # killed mid-epoch: this step's work is lost
        return original(self, data, batch, tensors)

    monkeypatch.setattr(Trainer, "_loss", dying)


def assert_resume_is_exact(tmp_path: Path, monkeypatch, extra: list[str]) -> None:
    """Uninterrupted vs killed at ``KILL_AT_STEP`` + resumed: the same run, bit for bit."""
    full = train_from_config(_config(tmp_path, "full", extra), report=False)
    with monkeypatch.context() as m:
        _kill_during_step(m, KILL_AT_STEP)
        with pytest.raises(KeyboardInterrupt):
            train_from_config(_config(tmp_path, "killed", extra), report=False)
    killed = tmp_path / "killed"
    assert [r["epoch"] for r in run_metrics(killed)] == [0, 1, 2]
    assert json.loads((killed / "checkpoints" / "last.json").read_text())["loop"]["epoch"] == 2
    resumed = train_from_config(_config(tmp_path, "killed", extra), resume=True, report=False)
    assert_same_run(full.run_dir, resumed.run_dir)


def assert_same_run(a: Path, b: Path, epochs: int = EPOCHS) -> None:
    """Two run folders hold the same metrics, evaluation, weights and optimizer state."""
    assert run_metrics(b) == run_metrics(a)
    assert len(run_metrics(a)) == epochs + 1
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_array_equal(wb[key], wa[key], err_msg=key, strict=True)
    ma, mb = (json.loads((r / "checkpoints" / "last.json").read_text()) for r in (a, b))
    assert mb["tensors_sha256"] == ma["tensors_sha256"]  # weights + Adam moments, bit for bit
    assert mb["optimizer"] == ma["optimizer"] and mb["scheduler"] == ma["scheduler"]
    ea, eb = (json.loads((r / "evaluation.json").read_text()) for r in (a, b))
    drop = ("seconds", "training")
    assert {k: v for k, v in eb.items() if k not in drop} == {
        k: v for k, v in ea.items() if k not in drop
    }


@pytest.mark.parametrize("encoder", list_encoders())
def test_every_encoder_resumes_bit_identically(tmp_path, monkeypatch, encoder):
    assert encoder in ENCODER_RUNS, (
        f"encoder {encoder!r} has no tiny settings in ENCODER_RUNS: add its data kind and "
        "arguments there so its resume is tested"
    )
    kind, args = ENCODER_RUNS[encoder]
    extra = [*_data(tmp_path, kind), f'model.encoder="{encoder}"', *PK, *args]
    if encoder == "hf_vision":
        extra.append(f'model.pretrained="{tiny_model_folder(tmp_path / "hf")}"')
    assert_resume_is_exact(tmp_path, monkeypatch, extra)


@pytest.mark.parametrize("strategy", ONLINE)
def test_every_online_miner_resumes_bit_identically(tmp_path, monkeypatch, strategy):
    kind, args = ENCODER_RUNS["mlp"]
    extra = [*_data(tmp_path, kind), 'model.encoder="mlp"', *args, *PK]
    assert_resume_is_exact(tmp_path, monkeypatch, [*extra, f'mining.strategy="{strategy}"'])


@pytest.mark.parametrize("strategy", SEQUENCED)
def test_every_sequenced_strategy_resumes_bit_identically(tmp_path, monkeypatch, strategy):
    kind, args = ENCODER_RUNS["mlp"]
    extra = [*_data(tmp_path, kind), 'model.encoder="mlp"', *args, "sampling.batch_size=6"]
    assert_resume_is_exact(tmp_path, monkeypatch, [*extra, f'mining.strategy="{strategy}"'])


def test_sequenced_strategy_refreshed_mid_epoch_resumes_bit_identically(tmp_path, monkeypatch):
    kind, args = ENCODER_RUNS["mlp"]
    extra = [*_data(tmp_path, kind), 'model.encoder="mlp"', *args, "sampling.batch_size=6"]
    extra += ['mining.strategy="sigmoid"', "mining.refresh_every=2"]  # re-mined inside epochs
    assert_resume_is_exact(tmp_path, monkeypatch, extra)


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from siamese.training import checkpoint, load_config
    from siamese.pipeline import train_from_config

    write_json = checkpoint.atomic_write_json

    def dying(path, obj, **kw):  # SIGKILL between the tensors file and the manifest of epoch 2
        if path.name == "last.json" and obj["loop"]["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return write_json(path, obj, **kw)

    checkpoint.atomic_write_json = dying
    train_from_config(load_config(None, sys.argv[1:]), report=False)
    """
)


def test_sigkill_between_checkpoint_files_resumes_from_the_previous_one(tmp_path):
    """A real SIGKILL after epoch 2's tensors are written, before its manifest: the run resumes
    from epoch 1's complete checkpoint, replays epoch 2 and ends as the uninterrupted run."""
    kind, args = ENCODER_RUNS["conv4"]
    extra = [*_data(tmp_path, kind), 'model.encoder="conv4"', *args, *PK]
    full = train_from_config(_config(tmp_path, "full", extra), report=False)
    lines = ['name="killed"', f'out_dir="{tmp_path}"', *COMMON, *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, *lines], env=env, capture_output=True, timeout=HANG_S
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    ckpt = tmp_path / "killed" / "checkpoints"
    manifest = json.loads((ckpt / "last.json").read_text())
    assert manifest["loop"]["epoch"] == 1  # the old checkpoint, whole
    tensor_files = sorted(p.name for p in ckpt.glob("last-*.safetensors"))
    assert len(tensor_files) == 2 and manifest["tensors"] in tensor_files  # + epoch 2's, unnamed
    resumed = train_from_config(_config(tmp_path, "killed", extra), resume=True, report=False)
    assert_same_run(full.run_dir, resumed.run_dir)
    assert [p.name for p in ckpt.glob("last-*.safetensors")] == [
        json.loads((ckpt / "last.json").read_text())["tensors"]
    ]  # the uncommitted file is gone


def test_resume_from_a_damaged_checkpoint_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from siamese.cli.app import main

    kind, args = ENCODER_RUNS["mlp"]
    lines = [*_data(tmp_path, kind), 'model.encoder="mlp"', *args, *PK]
    with monkeypatch.context() as m:
        _kill_during_step(m, KILL_AT_STEP)
        with pytest.raises(KeyboardInterrupt):
            train_from_config(_config(tmp_path, "damaged", lines), report=False)
    ckpt = tmp_path / "damaged" / "checkpoints"
    tensors = ckpt / json.loads((ckpt / "last.json").read_text())["tensors"]
    tensors.write_bytes(tensors.read_bytes()[:-1])  # truncated by something after it was written
    sets = [
        a
        for x in ['name="damaged"', f'out_dir="{tmp_path}"', *COMMON, *lines]
        for a in ("--set", x)
    ]
    before = {q: q.read_bytes() for q in (tmp_path / "damaged").rglob("*") if q.is_file()}
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *sets, "--resume"])
    after = {q: q.read_bytes() for q in (tmp_path / "damaged").rglob("*") if q.is_file()}
    assert after == before  # refused before the folder is marked running
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert f"{tensors.name}: " in err and "start the run again with --overwrite" in err
    assert len(err.strip().splitlines()) == 1


_CHILD_BEST = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from siamese.pipeline import train_from_config
    from siamese.training import checkpoint, load_config

    write_bytes = checkpoint.atomic_write_bytes

    def dying(path, data, **kw):  # SIGKILL once a later epoch's new best weights are on disk
        write_bytes(path, data, **kw)
        if path.name.startswith("best-") and (path.parent / "last.json").exists():
            os.kill(os.getpid(), signal.SIGKILL)

    checkpoint.atomic_write_bytes = dying
    train_from_config(load_config(None, sys.argv[1:]), report=False)
    """
)


def test_sigkill_after_new_best_weights_leaves_the_best_the_manifest_names(tmp_path):
    """A real SIGKILL after an improving epoch's best weights are written, before its manifest:
    the manifest still names the previous best (present, its SHA-256 matching), the new file is
    unnamed, and the resumed run ends with the uninterrupted run's best weights and state."""
    kind, args = ENCODER_RUNS["mlp"]
    extra = [*_data(tmp_path, kind), 'model.encoder="mlp"', *args, *PK, "training.epochs=5"]
    full = train_from_config(_config(tmp_path, "full", extra), report=False)
    lines = ['name="killed"', f'out_dir="{tmp_path}"', *COMMON, *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD_BEST, *lines], env=env, capture_output=True, timeout=600
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    ckpt = tmp_path / "killed" / "checkpoints"
    manifest = json.loads((ckpt / "last.json").read_text())
    named = manifest["best"]["file"]
    best_files = sorted(p.name for p in ckpt.glob("best-*.safetensors"))
    assert len(best_files) == 2 and named in best_files  # + the killed epoch's, unnamed
    resumed = train_from_config(_config(tmp_path, "killed", extra), resume=True, report=False)
    assert_same_run(full.run_dir, resumed.run_dir, epochs=5)
    ma, mb = (
        json.loads((r / "checkpoints" / "last.json").read_text())
        for r in (full.run_dir, ckpt.parent)
    )
    assert mb["best"] == ma["best"]
    assert sorted(p.name for p in ckpt.glob("best-*.safetensors")) == [mb["best"]["file"]]
