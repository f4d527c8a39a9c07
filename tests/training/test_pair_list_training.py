"""Koch's LFW recipe in the library: the first n pairs of each kind, pairs-only training with
listed validation pairs (sampling.kind = "pair_list"), and per-layer L2 (dense_weight_decay)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from siamese.data import load_source
from siamese.encoders import create_encoder
from siamese.errors import ConfigError
from siamese.training import load_config
from siamese.training.optim import build_optimizer
from siamese.training.run import train_run
from siamese.training.splits import load_splits

ROOT = Path(__file__).resolve().parents[2]
KOCH = ROOT / "configs" / "koch_lfw.toml"
TINY = ["model.channels=[4, 4, 4, 8]", "model.embedding_dim=16"]


def _lfw(shared_data: Path, *extra: str) -> list[str]:
    return [f'data.path="{shared_data / "lfw"}"', *extra]


def test_first_keeps_the_first_pairs_of_each_kind(shared_data: Path):
    root = shared_data / "lfw"
    ds = load_source("lfw", path=str(root), pairs="dev", first=1100)
    pr = ds.meta["pairs"]
    train, test = pr["fold"] == 0, pr["fold"] == 1
    assert train.sum() == 2200 and pr["same"][train].sum() == 1100
    assert test.sum() == 1200  # test.txt has 600 + 600: all kept
    lines = (root / "train.txt").read_text().splitlines()
    n = int(lines[0])
    wanted = lines[1:1101] + lines[1 + n : 1 + n + 1100]  # the file's first 1,100 of each kind
    got = []
    for a, b in zip(pr["i"][train], pr["j"][train], strict=True):
        (na, ia), (nb, ib) = (Path(ds.sources[k]).stem.rsplit("_", 1) for k in (a, b))
        fields = (
            [na, str(int(ia)), str(int(ib))] if na == nb else [na, str(int(ia)), nb, str(int(ib))]
        )
        got.append(fields)
    assert got == [line.split() for line in wanted]


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_first_must_be_a_count(tmp_path: Path, bad):
    (tmp_path / "pairs.txt").write_text("1\t1\nA\t1\t2\nA\t1\tB\t1\n")
    with pytest.raises(ConfigError, match=r"lfw first: expected a whole number .* got"):
        load_source("lfw", path=str(tmp_path), first=bad)


def test_pair_list_split_holds_out_listed_pairs(shared_data: Path):
    cfg = load_config(KOCH, _lfw(shared_data))
    ds, parts, how = load_splits(cfg)
    assert "1760 training pairs, 440 held out" in how
    seen = {}
    for name in ("train", "val"):
        part = parts[name]
        pr = part.meta["pairs"]
        assert pr["i"].max() < len(part) and len(np.unique(np.r_[pr["i"], pr["j"]])) == len(part)
        # the part's labels agree with the pairs' flags, and its pairs are pairs of the file
        assert ((part.labels[pr["i"]] == part.labels[pr["j"]]) == pr["same"]).all()
        seen[name] = {
            (part.sources[a], part.sources[b]) for a, b in zip(pr["i"], pr["j"], strict=True)
        }
        assert pr["same"].sum() == {"train": 880, "val": 220}[name]
    assert not seen["train"] & seen["val"]  # no pair in both
    full = ds.meta["pairs"]
    listed = {(ds.sources[a], ds.sources[b]) for a, b in zip(full["i"], full["j"], strict=True)}
    assert seen["train"] | seen["val"] <= listed
    # people: train.txt's only; the test part is test.txt's people
    test_people = set(parts["test"].labels.tolist())
    assert not test_people & (
        set(parts["train"].labels.tolist()) | set(parts["val"].labels.tolist())
    )


def test_pair_list_needs_a_source_with_pairs():
    cfg = load_config(None, ['sampling.kind="pair_list"', "data.n_per_pattern=4", "data.length=16"])
    with pytest.raises(ConfigError, match='sampling.kind = "pair_list": the data source lists no'):
        load_splits(cfg)


def test_koch_config_trains_one_epoch(shared_data: Path, tmp_path: Path):
    cfg = load_config(
        KOCH,
        _lfw(
            shared_data,
            f'out_dir="{tmp_path}"',
            "data.first=12",
            "training.epochs=1",
            "training.threads=1",
            "evaluation.n_way=2",
            "evaluation.val_episodes=5",
            *TINY,
        ),
    )
    assert cfg.sampling.kind == "pair_list" and cfg.training.dense_weight_decay == 4e-3
    assert cfg.model.encoder == "koch_cnn" and cfg.data.options["size"] == 105
    run = train_run(cfg)
    assert [r["epoch"] for r in run.history] == [0, 1]  # the untrained model, then epoch 1
    # the held-out pairs' BCE: both kinds in every batch, so near ln 2 for an untrained model
    assert all(0.3 < r["val_loss"] < 3 for r in run.history)
    assert run.model.head is not None  # the L1 + sigmoid pair head


def test_dense_weight_decay_groups_koch():
    enc = create_encoder("koch_cnn", channels=[2, 2, 2, 2], embedding_dim=8)
    opt = build_optimizer(
        enc, "adam", learning_rate=1e-3, weight_decay=4e-4, momentum=0.9, dense_weight_decay=4e-3
    )
    dense, conv, flat = opt.param_groups
    assert [g["weight_decay"] for g in (dense, conv, flat)] == [4e-3, 4e-4, 0.0]
    assert [p.shape for p in dense["params"]] == [enc.fc.weight.shape]
    assert len(conv["params"]) == 4 and all(p.ndim == 4 for p in conv["params"])
    assert len(flat["params"]) == 5 and all(p.ndim == 1 for p in flat["params"])  # biases
    one = build_optimizer(enc, "adam", learning_rate=1e-3, weight_decay=1e-4, momentum=0.9)
    assert len(one.param_groups) == 1 and one.param_groups[0]["weight_decay"] == 1e-4


def test_dense_weight_decay_is_keras_l2_times_two():
    """Adam's coupled weight_decay 2*lambda equals adding lambda * sum(w^2) to the loss."""
    torch.manual_seed(0)
    x, y = torch.randn(16, 5), torch.rand(16)

    def steps(model: nn.Module, explicit: bool) -> torch.Tensor:
        if explicit:
            opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        else:
            opt = build_optimizer(
                model,
                "adam",
                learning_rate=1e-2,
                weight_decay=0.0,
                momentum=0.9,
                dense_weight_decay=2 * 0.05,
            )
        for _ in range(5):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x).squeeze(-1), y)
            if explicit:
                loss = loss + 0.05 * (model.weight**2).sum()  # Keras kernel_regularizer l2(0.05)
            loss.backward()
            opt.step()
        return torch.cat([model.weight.detach().ravel(), model.bias.detach()])

    torch.manual_seed(1)
    a = nn.Linear(5, 1)
    b = nn.Linear(5, 1)
    b.load_state_dict(a.state_dict())
    assert torch.allclose(steps(a, True), steps(b, False), atol=1e-6)


def test_dense_weight_decay_errors():
    enc = nn.Linear(3, 2)
    with pytest.raises(
        ConfigError, match=r"dense_weight_decay: expected >= 0, or -1 for off, got -0.5"
    ):
        build_optimizer(
            enc, "adam", learning_rate=1e-3, weight_decay=0.0, momentum=0.9, dense_weight_decay=-0.5
        )
    groups = [{"params": list(enc.parameters()), "lr": 1e-3}]
    with pytest.raises(ConfigError, match="not together with the fine-tuning layer groups"):
        build_optimizer(
            enc,
            "adam",
            learning_rate=1e-3,
            weight_decay=0.0,
            momentum=0.9,
            groups=groups,
            dense_weight_decay=1e-3,
        )
