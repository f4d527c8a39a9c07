"""``training.device`` (auto / cpu / cuda) and how batches reach it, tested without a GPU.

``torch.cuda.is_available`` is monkeypatched to drive the choice; PyTorch's ``meta`` device (shapes,
no data) stands in for a second device where a test must show that tensors follow the batch (a
CPU tensor mixed with a meta one fails as a CPU tensor mixed with a CUDA one would).
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch
from cli_run import run_cli

import siamese.training.trainer as trainer_module
from siamese.data.labeled_dataset import LabeledDataset
from siamese.encoders import create_encoder
from siamese.errors import ConfigError
from siamese.model import SiameseModel
from siamese.objectives import create_objective
from siamese.sampling import PKGenerator
from siamese.training import load_config
from siamese.training.device import no_cuda_reason, place, resolve_device, to_device
from siamese.training.distributed import DistributedContext, rank_placement
from siamese.training.trainer import Trainer

NO_GPU = r'training.device = "cuda": no CUDA GPU is usable \(torch .*\); set training.device = "auto" or "cpu"'


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch believes it sees a GPU (nothing is ever run on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_auto_follows_cuda_availability(no_cuda, monkeypatch):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")  # cpu is cpu, GPU or not
    assert no_cuda_reason() is None


def test_cuda_without_a_gpu_is_one_line(no_cuda):
    with pytest.raises(ConfigError, match=NO_GPU) as err:
        resolve_device("cuda")
    assert "\n" not in str(err.value)
    with pytest.raises(
        ConfigError, match="training.device: expected one of auto, cpu, cuda, got 'gpu'"
    ):
        resolve_device("gpu")
    with pytest.raises(ConfigError, match='^device = "cuda": no CUDA GPU'):
        place(torch.nn.Linear(2, 2), "cuda")


def test_the_config_key_is_checked_but_not_against_this_machine(no_cuda):
    """A run trained on a GPU (config.json: device = "cuda") still loads on a CPU machine, to be
    evaluated or reported; the key's choices are checked like any other."""
    assert load_config(None, []).training.device == "auto"
    assert load_config(None, ['training.device="cuda"']).training.device == "cuda"
    with pytest.raises(
        ConfigError, match="'training.device': expected one of auto, cpu, cuda, got 'gpu'"
    ):
        load_config(None, ['training.device="gpu"'])


def test_train_on_cuda_without_a_gpu_exits_2_in_one_line(no_cuda, capsys, tmp_path):
    code, out, err = run_cli(
        capsys, "train", "--set", f'out_dir="{tmp_path}"', "--set", 'training.device="cuda"'
    )
    assert code == 2, (out, err)
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert 'training.device = "cuda": no CUDA GPU is usable' in lines[0]
    assert not any(tmp_path.iterdir())  # refused before a run folder is made


def test_single_process_context_takes_the_device(fake_cuda):
    assert DistributedContext.from_env(device="auto").device == torch.device("cuda")
    assert DistributedContext.from_env(device="cpu").device == torch.device("cpu")
    assert DistributedContext().device == torch.device("cpu")  # a Trainer built in code: CPU


def test_torchrun_placement(monkeypatch):
    """nccl only when each local rank has its own GPU; 2 ranks on 1 GPU share it under gloo."""
    cuda = torch.device("cuda")  # what resolve_device gives: no index yet
    assert rank_placement(torch.device("cpu")) == ("gloo", torch.device("cpu"))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert rank_placement(cuda) == ("gloo", torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert rank_placement(cuda) == ("nccl", torch.device("cuda", 1))
    assert rank_placement(cuda, backend="gloo") == ("gloo", torch.device("cuda", 1))


def test_to_device_pins_and_copies_without_blocking_onto_a_gpu():
    x = torch.arange(6.0)
    assert to_device(x, torch.device("cpu")) is x  # the CPU path: the tensor itself, no copy
    host = mock.MagicMock(spec=torch.Tensor)
    host.is_pinned.return_value = False
    cuda0 = torch.device("cuda", 0)
    out = to_device(host, cuda0)
    host.pin_memory.assert_called_once_with()
    host.pin_memory.return_value.to.assert_called_once_with(cuda0, non_blocking=True)
    assert out is host.pin_memory.return_value.to.return_value
    pinned = mock.MagicMock(spec=torch.Tensor)
    pinned.is_pinned.return_value = True
    to_device(pinned, cuda0)
    pinned.pin_memory.assert_not_called()
    pinned.to.assert_called_once_with(cuda0, non_blocking=True)


def _images(n_classes=6, per_class=4):
    rng = np.random.default_rng(0)
    x = rng.random(size=(n_classes * per_class, 1, 16, 16)).astype(np.float32)
    return LabeledDataset(
        items=x,
        labels=np.repeat(np.arange(n_classes), per_class),
        class_names=[f"c{i}" for i in range(n_classes)],
        sources=[f"img{i}" for i in range(len(x))],
        kind="image",
    )


def _trainer(device=None, optimizer="adam", augment=None):
    torch.manual_seed(0)
    enc = create_encoder("conv4", input_shape=(1, 16, 16), channels=8, embedding_dim=8)
    model = SiameseModel(enc, encoder_name="conv4", distance="euclidean")
    objective = create_objective("triplet", embedding_dim=8, margin=0.5, distance="euclidean")
    data = _images()
    return Trainer(
        model,
        objective,
        PKGenerator(data.labels, 3, 4, 3),
        data,
        epochs=2,
        progress=False,
        snapshot_items=0,
        optimizer=optimizer,
        augment=augment,
        distributed=None if device is None else DistributedContext(device=torch.device(device)),
    )


def test_cpu_training_through_the_copy_path_is_bit_identical(monkeypatch):
    """Every training batch goes through ``to_device`` (prefetched), and a CPU run gives exactly
    the weights and losses of the plain ``.to(device)`` the trainer used before."""
    from siamese.data.augment import ImageAugment

    aug = ImageAugment(rotate=10, shift=0.1)
    calls = []

    def spy(x, device):
        calls.append(device)
        return to_device(x, device)

    monkeypatch.setattr(trainer_module, "to_device", spy)
    new = _trainer("cpu", augment=aug)
    new_history = new.fit()
    assert calls and set(calls) == {torch.device("cpu")}
    assert len(calls) >= 2 * 3  # every training batch of both epochs (and validation's)
    monkeypatch.setattr(trainer_module, "to_device", lambda x, device: x.to(device))
    old = _trainer("cpu", augment=aug)
    old_history = old.fit()
    strip = lambda h: [{k: v for k, v in r.items() if "seconds" not in k} for r in h]  # noqa: E731
    assert strip(new_history) == strip(old_history)
    for (name, a), b in zip(
        new.model.state_dict().items(), old.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_the_model_is_moved_once_keeping_channels_last():
    """On another device (meta stands in for CUDA) the trainer moves the model before the
    optimiser takes its parameters; the conv weights stay channels-last; batches follow."""
    t = _trainer("meta", optimizer="sgd")
    params = list(t.model.parameters())
    assert all(p.device.type == "meta" for p in params)
    assert all(p.device.type == "meta" for g in t.optimizer.param_groups for p in g["params"])
    convs = [m.weight for m in t.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    batch = next(iter(t.generator.epoch(np.random.default_rng(0))))
    x, lens = t._tensors(t.train, batch)
    assert x.device.type == "meta" and lens is None


def test_augmentation_runs_where_the_batch_is():
    """Random draws stay on the host generator (the same numbers as on the CPU); the transform
    runs on the batch's device."""
    from siamese.data.augment import ImageAugment
    from siamese.data.augment_series import SeriesAugment

    gen = torch.Generator().manual_seed(0)
    images = ImageAugment(rotate=10, shift=0.1)(torch.rand(4, 1, 8, 8, device="meta"), gen)
    assert images.device.type == "meta" and images.shape == (4, 1, 8, 8)
    series = SeriesAugment(scale=0.1, jitter=0.1, slice=0.2)
    out = series(torch.rand(4, 10, 3, device="meta"), torch.tensor([10, 8, 7, 5]), generator=gen)
    assert out.device.type == "meta" and out.shape == (4, 10, 3)


class _Seen(Exception):
    pass


def test_collectives_get_tensors_on_the_context_device(monkeypatch):
    """nccl takes device tensors only: the figures averaged over ranks and the embedding widths
    are handed to the collectives on the context's device (meta standing in for CUDA)."""
    import torch.distributed as dist

    seen = []

    def collective(tensor, *args, **kwargs):
        tensors = tensor if isinstance(tensor, list) else [tensor]
        seen.extend(t.device.type for t in tensors)
        raise _Seen

    monkeypatch.setattr(dist, "all_reduce", collective)
    ctx = DistributedContext(rank=0, world_size=2, backend="nccl", device=torch.device("meta"))
    with pytest.raises(_Seen):
        ctx.reduce_record({"train_loss": 1.0, "seconds": 2.0})
    with pytest.raises(_Seen):
        ctx.gather_array(np.zeros((2, 3), np.float32), 4)
    assert seen == ["meta", "meta"]
