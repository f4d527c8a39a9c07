"""Fine-tuning: model.init_from, a frozen backbone first, layer-wise learning rates, resume."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from test_resume import _data, assert_resume_is_exact

from siamese.encoders.face_resnet import FaceResNet
from siamese.errors import ConfigError
from siamese.model import SiameseModel
from siamese.pipeline import train_from_config
from siamese.training import load_config
from siamese.training.fine_tune import BackboneSchedule

TINY = ["model.widths=[4, 4, 8, 8]", "model.embedding_dim=4"]
RUN = [
    "training.epochs=2",
    "training.steps_per_epoch=3",
    "training.val_batches=1",
    "training.progress=false",
    "training.early_stopping=false",
    'training.on_collapse="warn"',
    'sampling.kind="pk"',
    "sampling.p=2",
    "sampling.k=2",
    "evaluation.episodes=5",
    "evaluation.val_episodes=5",
    "evaluation.pairs=20",
    "evaluation.n_way=2",
    "data.val_fraction=0.25",
    "data.test_fraction=0.25",
]


@pytest.fixture
def pretrained(tmp_path):
    """A model folder of a seeded random tiny face_resnet, as import-weights would write one."""
    torch.manual_seed(1)
    enc = FaceResNet((1, 103, 103), embedding_dim=4, widths=[4, 4, 8, 8])
    args = {"input_shape": [1, 103, 103], "embedding_dim": 4, "widths": [4, 4, 8, 8]}
    info = {"kind": "image", "item_shape": [1, 103, 103], "pretrained": {"source": "test"}}
    SiameseModel(enc, encoder_name="face_resnet", encoder_args=args, info=info).save(
        tmp_path / "pre"
    )
    return tmp_path / "pre"


def _cfg(tmp_path, pretrained, name="ft", extra=(), model=('model.encoder="face_resnet"', *TINY)):
    return load_config(None, [
        f'name="{name}"', f'out_dir="{tmp_path}"', *_data(tmp_path, "image103"),
        'data.normalise="none"', *model,
        f'model.init_from="{pretrained}"', *RUN, *extra,
    ])  # fmt: skip


def test_param_groups_follow_layer_wise_decay():
    net = SiameseModel(FaceResNet(widths=[4, 4, 8, 8]), encoder_name="face_resnet")
    sched = BackboneSchedule(net, freeze_epochs=2, backbone_lr_scale=0.1, layer_decay=0.5)
    groups = sched.param_groups(1e-3)
    assert groups[0]["lr"] == 1e-3 and groups[0]["params"] == [net.encoder.fc.weight]
    want = [1e-3 * 0.1 * 0.5**d for d in range(15)]  # 14 blocks + the stem, top down
    assert [g["lr"] for g in groups[1:]] == pytest.approx(want)
    assert groups[-1]["params"] == list(net.encoder.conv32_down.parameters())
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))
    assert sched.apply(2) is True and not net.encoder.conv32_down.conv.weight.requires_grad
    assert sched.apply(3) is False and net.encoder.conv32_down.conv.weight.requires_grad


def test_frozen_epoch_trains_only_the_head_then_everything(tmp_path, pretrained):
    start = load_file(pretrained / "model.safetensors")
    cfg = _cfg(tmp_path, pretrained, extra=[
        "training.freeze_backbone_epochs=1", "training.backbone_lr_scale=0.1",
        "training.layer_decay=0.8", "training.learning_rate=0.01",
    ])  # fmt: skip
    # after epoch 1 (frozen): the checkpoint of epoch 1 is overwritten by epoch 2, so stop at 1
    one = train_from_config(_cfg(tmp_path, pretrained, "one", [
        "training.epochs=1", "training.freeze_backbone_epochs=1", "training.learning_rate=0.01",
    ]), report=False)  # fmt: skip
    w1 = {k: v for k, v in one.model.state_dict().items()}
    for key, value in start.items():
        name = key.removeprefix("encoder.")
        if name == "fc.weight":
            assert not torch.equal(w1[key], value), "the head did not train"
        else:
            assert torch.equal(w1[key], value), f"{name} moved while frozen"
    two = train_from_config(cfg, report=False)
    w2 = two.model.state_dict()
    assert not torch.equal(
        w2["encoder.conv32_down.conv.weight"], start["encoder.conv32_down.conv.weight"]
    )
    metrics = [
        json.loads(line) for line in (two.run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert [m.get("backbone_frozen") for m in metrics[1:]] == [True, False]
    assert two.model.info["init_from"] == {
        "path": str(pretrained),
        "pretrained": {"source": "test"},
    }
    ckpt = json.loads((two.run_dir / "checkpoints" / "last.json").read_text())
    lrs = [g["lr"] for g in ckpt["optimizer"]["param_groups"]]
    assert lrs[0] == pytest.approx(0.01) and lrs[1] == pytest.approx(0.001)
    assert lrs[2] == pytest.approx(0.0008) and len(lrs) == 16


def test_fine_tuned_run_resumes_bit_identically(tmp_path, monkeypatch, pretrained):
    extra = [*_data(tmp_path, "image103"), 'data.normalise="none"', 'model.encoder="face_resnet"',
             *TINY, f'model.init_from="{pretrained}"', 'sampling.kind="pk"', "sampling.p=2",
             "sampling.k=2", "training.freeze_backbone_epochs=1", "training.layer_decay=0.8",
             "training.backbone_lr_scale=0.5"]  # fmt: skip
    assert_resume_is_exact(tmp_path, monkeypatch, extra)


@pytest.mark.parametrize(
    "extra,needle",
    [
        (['model.encoder="conv4"', "model.channels=4"], r"holds a 'face_resnet' encoder"),
        (['model.encoder="face_resnet"', *TINY, 'data.normalise="global"'],
         r"normalised 'none', but data.normalise = 'global'"),
        (['model.encoder="face_resnet"', "model.widths=[4, 4, 8, 16]", "model.embedding_dim=4"],
         r"tensor 'conv256_down.conv1.conv.weight' is \(8, 8, 3, 3\) there but \(16, 8, 3, 3\)"),
    ],
)  # fmt: skip
def test_init_from_that_does_not_fit_is_named(tmp_path, pretrained, extra, needle):
    with pytest.raises(ConfigError, match=needle):
        train_from_config(_cfg(tmp_path, pretrained, extra=extra, model=()), report=False)


def test_freezing_needs_an_encoder_with_layer_groups(tmp_path):
    cfg = load_config(None, [
        'name="c4"', f'out_dir="{tmp_path}"', *_data(tmp_path, "image16"), 'model.encoder="conv4"',
        "model.channels=4", *RUN, "training.freeze_backbone_epochs=1",
    ])  # fmt: skip
    with pytest.raises(ConfigError, match="encoder 'conv4' does not name its layer groups"):
        train_from_config(cfg, report=False)
