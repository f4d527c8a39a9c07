"""Checkpoints: one atomic unit (hash-named tensors + manifest), verified on load, optimizer state
back in each parameter's memory layout, old-format checkpoints loaded or refused in one line."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save

from siamese.encoders import create_encoder
from siamese.errors import ModelFileError
from siamese.training import checkpoint
from siamese.training.checkpoint import load_checkpoint, load_weights, save_checkpoint


def _setup(seed=0, channels=4):
    """A channels-last conv4 (as the trainer builds it), Adam and a cosine schedule."""
    torch.manual_seed(seed)
    model = create_encoder("conv4", input_shape=(1, 8, 8), channels=channels, embedding_dim=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    return model, optimizer, scheduler


def _steps(model, optimizer, scheduler, n, seed):
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(n):
        x = torch.randn(4, 1, 8, 8, generator=gen)
        optimizer.zero_grad(set_to_none=True)
        model(x).pow(2).sum().backward()
        optimizer.step()
        scheduler.step()


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def _loop(step):
    return {"epoch": step, "global_step": step, "history": [{"epoch": step, "loss": 0.5}]}


@pytest.fixture
def saved(tmp_path):
    """A checkpoint after 3 steps; returns (path, the model, optimizer, scheduler)."""
    model, optimizer, scheduler = _setup()
    _steps(model, optimizer, scheduler, 3, seed=1)
    path = tmp_path / "checkpoints" / "last"
    save_checkpoint(path, model, optimizer, scheduler, _loop(3))
    return path, model, optimizer, scheduler


def test_conv_weights_are_channels_last_as_the_trainer_trains_them():
    model, _, _ = _setup()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1]
    assert convs  # 4 -> 4 channels: channels-last strides differ from the default ones
    for conv in convs:
        w = conv.weight
        assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()


def test_resumed_optimizer_state_has_each_parameters_layout_and_steps_identically(saved):
    path, model, optimizer, scheduler = saved
    fresh, fresh_opt, fresh_sched = _setup(seed=5)  # other initial weights
    assert load_checkpoint(path, fresh, fresh_opt, fresh_sched) == _loop(3)
    for p in fresh.parameters():
        for key, value in fresh_opt.state[p].items():
            if value.shape == p.shape:
                assert value.stride() == p.stride(), key  # channels-last moments for conv weights
    assert fresh_sched.state_dict() == scheduler.state_dict()
    _steps(model, optimizer, scheduler, 4, seed=2)
    _steps(fresh, fresh_opt, fresh_sched, 4, seed=2)
    for a, b in zip(_params(model), _params(fresh), strict=True):
        assert torch.equal(a, b)  # bit for bit


def test_checkpoint_is_a_manifest_naming_its_hashed_tensors(saved):
    path, *_ = saved
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["format"] == checkpoint.FORMAT
    assert manifest["tensors"] == f"last-{manifest['tensors_sha256'][:16]}.safetensors"
    assert sorted(p.name for p in path.parent.iterdir()) == [manifest["tensors"], "last.json"]


def test_a_new_checkpoint_replaces_the_old_one_and_removes_its_tensors(saved):
    path, model, optimizer, scheduler = saved
    old = json.loads(path.with_suffix(".json").read_text())["tensors"]
    _steps(model, optimizer, scheduler, 1, seed=3)
    save_checkpoint(path, model, optimizer, scheduler, _loop(4))
    new = json.loads(path.with_suffix(".json").read_text())["tensors"]
    assert new != old and sorted(p.name for p in path.parent.iterdir()) == [new, "last.json"]


def _half_written_tensors(file, data, **_):
    """Dies half way through the tensors file, leaving its temporary file behind."""
    (file.parent / f".{file.name}.crash.tmp").write_bytes(data[: len(data) // 2])
    raise KeyboardInterrupt


def _no_manifest(*_, **__):
    """Dies after the tensors file, before the manifest."""
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "where,crash",
    [("atomic_write_bytes", _half_written_tensors), ("atomic_write_json", _no_manifest)],
)
def test_crash_during_a_checkpoint_write_leaves_the_previous_checkpoint(
    saved, monkeypatch, where, crash
):
    """The old checkpoint loads whole; the next complete write removes what the crash left."""
    path, model, optimizer, scheduler = saved
    before = _params(model)
    _steps(model, optimizer, scheduler, 1, seed=3)
    with monkeypatch.context() as m:
        m.setattr(checkpoint, where, crash)
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(path, model, optimizer, scheduler, _loop(4))
    assert len(list(path.parent.iterdir())) == 3  # old tensors + manifest, and the crash's file
    fresh, fresh_opt, fresh_sched = _setup(seed=5)
    assert load_checkpoint(path, fresh, fresh_opt, fresh_sched)["global_step"] == 3
    for a, b in zip(before, _params(fresh), strict=True):
        assert torch.equal(a, b)
    save_checkpoint(path, model, optimizer, scheduler, _loop(4))
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert sorted(p.name for p in path.parent.iterdir()) == [manifest["tensors"], "last.json"]


def test_truncated_tensors_are_refused_in_one_line(saved):
    path, *_ = saved
    file = path.parent / json.loads(path.with_suffix(".json").read_text())["tensors"]
    file.write_bytes(file.read_bytes()[:-10])
    with pytest.raises(
        ModelFileError, match=r"do not match the \d+ bytes and SHA-256 .*--overwrite"
    ):
        load_checkpoint(path, *_setup())


def test_changed_tensors_of_the_same_size_are_refused(saved):
    path, *_ = saved
    file = path.parent / json.loads(path.with_suffix(".json").read_text())["tensors"]
    data = bytearray(file.read_bytes())
    data[-1] ^= 1
    file.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256 its manifest last.json records"):
        load_checkpoint(path, *_setup())


def test_edited_loop_state_is_refused(saved):
    path, *_ = saved
    manifest = json.loads(path.with_suffix(".json").read_text())
    manifest["loop"]["epoch"] = 7
    path.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="does not match its recorded SHA-256"):
        load_checkpoint(path, *_setup())


@pytest.mark.parametrize("name", ["../model.safetensors", "sub/last-0123456789abcdef.safetensors"])
def test_a_manifest_naming_a_file_elsewhere_is_refused(saved, name):
    path, *_ = saved
    manifest = json.loads(path.with_suffix(".json").read_text())
    manifest["tensors"] = name
    path.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="is not a tensor file of this checkpoint"):
        load_checkpoint(path, *_setup())


def test_missing_tensors_and_broken_manifest_are_refused(saved):
    path, *_ = saved
    manifest_text = path.with_suffix(".json").read_text()
    (path.parent / json.loads(manifest_text)["tensors"]).unlink()
    with pytest.raises(ModelFileError, match="the checkpoint's tensors are unreadable"):
        load_checkpoint(path, *_setup())
    path.with_suffix(".json").write_text(manifest_text[:50])
    with pytest.raises(ModelFileError, match="unreadable checkpoint manifest"):
        load_checkpoint(path, *_setup())
    path.with_suffix(".json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="not a checkpoint manifest"):
        load_checkpoint(path, *_setup())


def test_a_checkpoint_of_another_model_is_refused_in_one_line(saved):
    path, *_ = saved
    with pytest.raises(ModelFileError, match="does not fit this run's model") as info:
        load_checkpoint(path, *_setup(channels=6))
    assert "\n" not in str(info.value)


def _legacy(path, model, optimizer, scheduler, loop):
    """A checkpoint as the previous format wrote it: last.safetensors, then last.json."""
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, opt_plain = checkpoint._flatten_optimizer(optimizer.state_dict())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".safetensors").write_bytes(save({**tensors, **opt_tensors}))
    meta = {"optimizer": opt_plain, "scheduler": scheduler.state_dict(), "loop": loop}
    path.with_suffix(".json").write_text(json.dumps(meta))


def test_old_format_checkpoint_loads_and_is_replaced_by_the_new_format(tmp_path):
    model, optimizer, scheduler = _setup()
    _steps(model, optimizer, scheduler, 3, seed=1)
    path = tmp_path / "last"
    _legacy(path, model, optimizer, scheduler, _loop(3))
    fresh, fresh_opt, fresh_sched = _setup(seed=5)
    assert load_checkpoint(path, fresh, fresh_opt, fresh_sched) == _loop(3)
    for a, b in zip(_params(model), _params(fresh), strict=True):
        assert torch.equal(a, b)
    save_checkpoint(path, fresh, fresh_opt, fresh_sched, _loop(3))
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == [manifest["tensors"], "last.json"]


def test_old_format_checkpoint_killed_between_its_files_is_refused(tmp_path):
    """The old writer's failure: tensors of step 4 beside the JSON of step 3."""
    model, optimizer, scheduler = _setup()
    _steps(model, optimizer, scheduler, 4, seed=1)
    path = tmp_path / "last"
    _legacy(path, model, optimizer, scheduler, _loop(3))
    with pytest.raises(ModelFileError, match="optimizer step 4 but last.json from step 3"):
        load_checkpoint(path, *_setup())


def test_damaged_best_weights_are_a_model_file_error(tmp_path):
    (tmp_path / "best.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ModelFileError, match="best.safetensors: unreadable or mismatched weights"):
        load_weights(tmp_path / "best.safetensors", _setup()[0])


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_best_weights_are_part_of_the_checkpoint_unit(saved):
    """Best weights are hash-named, recorded with their SHA-256 in the manifest, kept while no
    new best comes, replaced (and the old file removed) by a new best, restored verified."""
    path, model, optimizer, scheduler = saved
    best_weights = checkpoint.weights_of(model)
    save_checkpoint(path, model, optimizer, scheduler, _loop(4), best=best_weights)
    first = json.loads(path.with_suffix(".json").read_text())["best"]
    assert first["file"] == f"best-{first['sha256'][:16]}.safetensors"
    _steps(model, optimizer, scheduler, 1, seed=3)
    save_checkpoint(path, model, optimizer, scheduler, _loop(5))  # no new best
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["best"] == first
    assert _files(path.parent) == sorted([first["file"], manifest["tensors"], "last.json"])
    fresh = _setup(seed=5)[0]
    assert checkpoint.load_best(path, fresh)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, best_weights[key]), key
    save_checkpoint(path, model, optimizer, scheduler, _loop(6), best=checkpoint.weights_of(model))
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["best"]["file"] != first["file"]
    assert _files(path.parent) == sorted(
        [manifest["best"]["file"], manifest["tensors"], "last.json"]
    )


def test_damaged_or_edited_best_weights_are_refused_on_resume_and_on_load(saved):
    path, model, optimizer, scheduler = saved
    save_checkpoint(path, model, optimizer, scheduler, _loop(3), best=checkpoint.weights_of(model))
    manifest = json.loads(path.with_suffix(".json").read_text())
    best = path.parent / manifest["best"]["file"]
    data = bytearray(best.read_bytes())
    data[-1] ^= 1
    best.write_bytes(bytes(data))
    for load in (
        lambda: load_checkpoint(path, *_setup()),
        lambda: checkpoint.load_best(path, _setup()[0]),
    ):
        with pytest.raises(
            ModelFileError, match=r"best-[0-9a-f]{16}.safetensors: \d+ bytes that do"
        ):
            load()
    best.unlink()
    with pytest.raises(ModelFileError, match="the checkpoint's best weights are unreadable"):
        load_checkpoint(path, *_setup())
    manifest["best"]["file"] = "../model.safetensors"  # edited: the state hash says so first
    path.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="does not match its recorded SHA-256"):
        checkpoint.load_best(path, _setup()[0])


def _format_2(path, best_weights):
    """Rewrite checkpoint ``path`` as format 2 wrote it: no best entry, best.safetensors beside."""
    manifest = json.loads(path.with_suffix(".json").read_text())
    for name in [manifest.pop("best")["file"]] if manifest.get("best") else []:
        (path.parent / name).unlink()
    state = {k: manifest[k] for k in ("optimizer", "scheduler", "loop")}
    manifest["format"] = 2
    manifest["state_sha256"] = checkpoint._sha256(checkpoint.canonical_json(state).encode("utf-8"))
    path.with_suffix(".json").write_text(json.dumps(manifest))
    (path.parent / "best.safetensors").write_bytes(save(best_weights))


def test_a_format_2_checkpoint_and_its_best_safetensors_still_load(saved):
    """An old run folder resumes; its best.safetensors is restored, then taken into the next
    manifest by hash, and removed once a new best replaces it."""
    path, model, optimizer, scheduler = saved
    old_best = checkpoint.weights_of(_setup(seed=7)[0])
    _format_2(path, old_best)
    fresh, fresh_opt, fresh_sched = _setup(seed=5)
    assert load_checkpoint(path, fresh, fresh_opt, fresh_sched) == _loop(3)
    assert checkpoint.load_best(path, fresh)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, old_best[key]), key
    save_checkpoint(path, model, optimizer, scheduler, _loop(4))
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["format"] == 3 and manifest["best"]["file"] == "best.safetensors"
    assert checkpoint.load_best(path, _setup()[0])
    save_checkpoint(path, model, optimizer, scheduler, _loop(5), best=checkpoint.weights_of(model))
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert _files(path.parent) == sorted(
        [manifest["best"]["file"], manifest["tensors"], "last.json"]
    )


def test_no_best_weights_is_said(saved):
    path, *_ = saved
    assert checkpoint.load_best(path, _setup()[0]) is False
