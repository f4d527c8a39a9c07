"""``training.precision = "bfloat16"``: training forward passes under autocast, everything else
float32 (weights, optimiser state, loss, validation and every embedding for evaluation)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from tiny_runs import tiny_config

from siamese.data.labeled_dataset import LabeledDataset
from siamese.encoders import create_encoder
from siamese.errors import ConfigError
from siamese.model import SiameseModel
from siamese.objectives import create_objective
from siamese.pipeline import train_from_config
from siamese.sampling import PKGenerator
from siamese.training import load_config, optim
from siamese.training.optim import check_precision, cpu_bf16_units
from siamese.training.trainer import Trainer


def _images(n_classes=6, per_class=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n_classes * per_class, 1, 16, 16), dtype=np.uint8)
    labels = np.repeat(np.arange(n_classes), per_class)
    return LabeledDataset(
        items=x.astype(np.float32) / 255.0,
        labels=labels,
        class_names=[f"c{i}" for i in range(n_classes)],
        sources=[f"img{i}" for i in range(len(x))],
        kind="image",
    )


def _trainer(precision, seed=0):
    torch.manual_seed(seed)
    enc = create_encoder("conv4", input_shape=(1, 16, 16), channels=8, embedding_dim=8)
    model = SiameseModel(enc, encoder_name="conv4", distance="euclidean")
    data = _images()
    objective = create_objective("triplet", embedding_dim=8, margin=0.5, distance="euclidean")
    gen = PKGenerator(data.labels, 3, 4, 1)
    return Trainer(
        model,
        objective,
        gen,
        data,
        epochs=1,
        progress=False,
        snapshot_items=0,
        prefetch=0,
        precision=precision,
    )


def _conv_output_dtypes(model):
    seen = []
    model.encoder.features[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen


def test_bfloat16_runs_training_convolutions_in_bfloat16_only():
    trainer = _trainer("bfloat16")
    seen = _conv_output_dtypes(trainer.model)
    batch = next(iter(trainer.generator.epoch(np.random.default_rng(0))))
    trainer.model.train()
    loss = trainer._loss(trainer.train, batch)
    assert seen == [torch.bfloat16]
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    emb = trainer.model.embed(trainer.train.load(np.arange(4)))  # evaluation path
    assert seen[-1] == torch.float32 and emb.dtype == torch.float32


def test_bfloat16_step_matches_float32_and_keeps_float32_weights():
    losses, weights = {}, {}
    for precision in ("float32", "bfloat16"):
        trainer = _trainer(precision)
        before = trainer.model.encoder.fc.weight.detach().clone()
        history = trainer.fit()
        losses[precision] = history[-1]["train_loss"]
        weights[precision] = trainer.model.encoder.fc.weight.detach()
        assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
        assert not torch.equal(before, weights[precision])  # the step updated the weights
    # bfloat16 keeps 8 bits of mantissa: the same step within a few percent
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=0.05)
    torch.testing.assert_close(weights["bfloat16"], weights["float32"], atol=5e-3, rtol=0.05)


def test_bfloat16_run_end_to_end(tmp_path):
    """The simulator's LSTM run trains under bfloat16 and saves a float32 model."""
    cfg = tiny_config(tmp_path, "bf16", ['training.precision="bfloat16"'])
    r = train_from_config(cfg, report=False)
    assert np.isfinite(r.history[-1]["train_loss"])
    assert r.model.info["config"]["training"]["precision"] == "bfloat16"
    assert all(p.dtype == torch.float32 for p in SiameseModel.load(r.run_dir).parameters())


def test_cpu_bf16_units_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("model name\t: X\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert cpu_bf16_units(info) == ["amx_bf16", "avx512_bf16"]
    info.write_text("model name\t: X\nflags\t\t: fpu avx2 avx512f\n")
    assert cpu_bf16_units(info) == []
    assert cpu_bf16_units(tmp_path / "missing") is None  # not Linux: unknown, no warning


def test_bfloat16_on_a_cpu_without_bf16_units_warns(monkeypatch):
    monkeypatch.setattr(optim, "cpu_bf16_units", lambda: [])
    with pytest.warns(UserWarning, match='no bfloat16 units.*set training.precision = "float32"'):
        assert check_precision("bfloat16")
    monkeypatch.setattr(optim, "cpu_bf16_units", lambda: ["amx_bf16"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_precision("bfloat16") and not check_precision("float32")


def test_precision_errors():
    with pytest.raises(ConfigError, match="training.precision.*float32, bfloat16.*'float16'"):
        load_config(None, ['training.precision="float16"'])
    with pytest.raises(ConfigError, match="training precision: expected one of float32, bfloat16"):
        check_precision("half")
    assert check_precision("bfloat16") and not check_precision("float32")
