"""`siamese prune`: the rebuilt smaller model computes exactly what the original computes with the
removed channels' consumers zeroed (every encoder, every option on), keeps the largest-norm
channels, writes a smaller run folder every loader reads, and refuses bad input in one line."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from siamese.compress._cut import keep_by_norm
from siamese.compress._families import FAMILIES
from siamese.compress.prune import prune_model
from siamese.encoders import create_encoder, list_encoders
from siamese.errors import ConfigError
from siamese.export import export_model
from siamese.model import SiameseModel
from tests.cli.test_cli_errors import _run as _cli


def _items(model, n=7, seed=0):
    rng = np.random.default_rng(seed)
    shape = model.info["item_shape"]
    if model.info["kind"] == "image":
        return rng.integers(0, 256, size=(n, *shape)).astype(np.float32), None
    x = np.abs(rng.normal(size=(n, *shape))).astype(np.float32)
    lengths = (
        np.maximum(2, shape[0] - np.arange(n) * 2) if model.info["kind"] == "sequence" else None
    )
    return x, lengths


def _zeroed_original(model: SiameseModel, summary: dict) -> SiameseModel:
    """The original model with every removed channel's weights (its rows, and its columns in the
    layers that read it) set to zero: what the smaller model must compute, on the kept dims."""
    ref = copy.deepcopy(model)
    state = ref.encoder.state_dict()
    for name, dim, kept in summary["cuts"]:
        t = state[name]
        gone = np.setdiff1d(np.arange(t.shape[dim]), kept)
        t.index_fill_(dim, torch.as_tensor(gone, dtype=torch.long), 0.0)
    if ref.head is not None and summary["embedding_kept"] is not None:
        w = ref.head.linear.weight.data
        gone = np.setdiff1d(np.arange(w.shape[1]), summary["embedding_kept"])
        w[:, gone] = 0.0
    return ref


def test_an_encoder_without_a_pruning_rule_is_one_line(tiny_run):
    """face_resnet (an imported network) has no rule: a clear error listing those that have one
    (nor has hf_vision, a Hugging Face model)."""
    unprunable = [n for n in list_encoders() if n not in FAMILIES]
    assert unprunable == ["face_aligned", "face_resnet", "hf_vision"]
    model = SiameseModel.load(tiny_run("face_resnet"))
    with pytest.raises(
        ConfigError, match="'face_resnet' has no pruning rule; encoders that can be"
    ):
        prune_model(model, 0.5)


@pytest.mark.parametrize("keep_embedding", [False, True])
@pytest.mark.parametrize("name", [n for n in list_encoders() if n in FAMILIES])
def test_pruned_model_is_the_original_without_the_removed_channels(tiny_run, name, keep_embedding):
    model = SiameseModel.load(tiny_run(name))
    pruned, summary = prune_model(model, 0.5, keep_embedding=keep_embedding)
    assert summary["parameters_after"] < summary["parameters_before"]
    assert pruned.encoder_args == {**model.encoder_args, **summary["args_after"]}
    ref = _zeroed_original(model, summary)
    x, lengths = _items(model)
    got, want = pruned.embed(x, lengths), ref.embed(x, lengths)  # (n, D'), (n, D)
    kept = summary["embedding_kept"]
    if keep_embedding:
        assert kept is None and got.shape == want.shape
    else:
        assert kept is not None and got.shape[1] == len(kept) < want.shape[1]
        want = want[:, kept]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    if model.head is not None:
        torch.testing.assert_close(
            pruned.similarity(got, got.flip(0)),
            ref.similarity(ref.embed(x, lengths), ref.embed(x, lengths).flip(0)),
            atol=1e-5,
            rtol=1e-4,
        )


def test_kept_units_are_those_of_largest_norm():
    torch.manual_seed(0)
    enc = create_encoder("mlp", input_shape=[6], hidden=[8], batch_norm=False, embedding_dim=4)
    model = SiameseModel(enc, encoder_name="mlp", encoder_args={"input_shape": [6], "hidden": [8],
                         "batch_norm": False, "embedding_dim": 4})  # fmt: skip
    pruned, summary = prune_model(model, 0.5, keep_embedding=True)
    rows = enc.net[0].weight.detach()  # (8, 6)
    exhaustive = max(  # the 4 rows whose norms sum highest, by trying every choice of 4
        (tuple(c) for c in __import__("itertools").combinations(range(8), 4)),
        key=lambda c: float(rows[list(c)].norm(dim=1).sum()),
    )
    torch.testing.assert_close(pruned.encoder.net[0].weight, rows[list(exhaustive)])
    assert keep_by_norm(rows, 4).tolist() == list(exhaustive)


def test_prune_run_writes_a_smaller_run_every_loader_reads(tiny_run, tmp_path, capsys):
    run = tiny_run("koch_cnn")
    out = tmp_path / "pruned"
    code, stdout, err = _cli(capsys, "prune", str(run), "--amount", "0.5", "--fine-tune-steps",
                             "2", "--out", str(out), "--json")  # fmt: skip
    assert code == 0, err
    result = json.loads(stdout)
    assert result["bytes_after"] < result["bytes_before"]
    assert (out / "model.safetensors").stat().st_size == result["bytes_after"]
    assert result["args_after"]["channels"] == [2, 3, 3, 4]  # of [4, 6, 6, 8]
    assert result["fine_tune"]["steps"] == 2 and result["fine_tune"]["train_loss"] is not None
    for name in ("config.json", "dataset.json", "metrics.jsonl", "prune.json", "evaluation.json"):
        assert (out / name).is_file(), name
    assert (out / "report.html").is_file()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["name"] == "pruned" and cfg["model"]["channels"] == [2, 3, 3, 4]
    model = SiameseModel.load(out)
    assert model.info["pruned"]["amount"] == 0.5 and "fine_tune" in model.info["pruned"]
    assert json.loads((out / "evaluation.json").read_text())["items"] > 0
    code, _, err = _cli(capsys, "evaluate", str(out), "--json")
    assert code == 0, err
    report = export_model(out, "onnx")  # exports of the pruned run are exact
    assert report["max_abs_diff"] <= 1e-4 and report["embedding_dim"] == 3
    assert not list(tmp_path.glob(".pruned.prune-*"))  # nothing half-written left behind


@pytest.mark.parametrize("amount", ["0", "1", "1.5", "-0.2", "nan"])
def test_amount_outside_0_1_is_one_line(tiny_run, tmp_path, capsys, amount):
    run = tiny_run("mlp")
    capsys.readouterr()  # the fixture's training output is not the command's
    code, out, err = _cli(capsys, "prune", str(run), "--amount", amount, "--out",
                          str(tmp_path / "p"))  # fmt: skip
    assert code == 2 and "--amount" in err and "(0, 1)" in err, err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_prune_refusals(tiny_run, tmp_path, capsys):
    run = tiny_run("mlp")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    code, _, err = _cli(
        capsys, "prune", str(run), "--amount", "0.5", "--out", str(tmp_path / "taken")
    )
    assert code == 2 and "already exists; pass a new folder" in err
    code, _, err = _cli(capsys, "prune", str(tmp_path / "taken"), "--amount", "0.5", "--out",
                        str(tmp_path / "p"))  # fmt: skip
    assert code == 2 and "config.json: missing; siamese prune takes a run folder" in err
    with pytest.raises(ConfigError, match=r"--amount 1\.0: expected a fraction"):
        prune_model(SiameseModel.load(run), 1.0)
