"""Collapse is detected on the training batches of every run, and a run recovers or fails loudly."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from _limits import HANG_S

from siamese.errors import ConfigError, TrainingFailed
from siamese.objectives import create_objective
from siamese.pipeline import train_from_config
from siamese.training import load_config
from siamese.training.collapse import CollapseDetector, batch_stats, weak_model_warning
from siamese.training.recovery import CollapseRecovery
from tests.tiny_runs import TINY_TRAFFIC_MODEL, killed_and_resumed, run_metrics

# The PLAID failure in small: an L2-normalised encoder, euclidean triplets, batch-hard mining from
# the first step and a large learning rate. The embedding shrinks into a point (spread -> 0), the
# loss sits at the margin, and no validation split is there to notice.
COLLAPSING = [
    *TINY_TRAFFIC_MODEL,
    "data.val_fraction=0.0",
    "training.epochs=6",
    "training.steps_per_epoch=10",
    "training.progress=false",
    "training.snapshot_items=0",
    'sampling.kind="pk"',
    "sampling.p=5",
    "sampling.k=4",
    'mining.strategy="batch_hard"',
    'objective.distance="euclidean"',
    'model.output_activation="l2"',
    "training.learning_rate=0.05",
    "evaluation.episodes=20",
    "evaluation.pairs=50",
]


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_plaid_like_collapse_without_validation_is_flagged_and_fails_loudly(tmp_path):
    cfg = load_config(
        None, [f'out_dir="{tmp_path}"', 'name="dead"', 'training.on_collapse="warn"', *COLLAPSING]
    )
    with (
        pytest.warns(UserWarning, match="COLLAPSE at epoch"),
        pytest.raises(TrainingFailed, match=r"collapsed at epoch 6 .*Try: use \[mining\] strategy"),
    ):
        train_from_config(cfg)
    run = tmp_path / "dead"
    metrics = _metrics(run)
    flagged = [m for m in metrics if m.get("collapse")]
    assert flagged and flagged[-1]["epoch"] == 6  # no validation split: the batches told
    assert any("spread" in w or "margin" in w for m in flagged for w in m["warnings"])
    last = metrics[-1]
    assert last["batch_spread"] < 0.05 * 0.1 and abs(last["train_loss"] - 0.2) < 0.01
    summary = json.loads((run / "evaluation.json").read_text())["training"]["collapse"]
    assert summary["state"] == "collapsed" and summary["epochs"][-1] == 6
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "THE EMBEDDING COLLAPSED" in report
    assert report.index("THE EMBEDDING COLLAPSED") < report.index('<section id="curves">')


def test_recover_rolls_back_and_ends_healthy(tmp_path):
    cfg = load_config(None, [f'out_dir="{tmp_path}"', 'name="saved"', *COLLAPSING])
    assert cfg.training.on_collapse == "recover"  # the default
    with pytest.warns(UserWarning, match="Recovering"):
        result = train_from_config(cfg, report=False)
    metrics = _metrics(result.run_dir)
    recoveries = [m["recovery"] for m in metrics if m.get("recovery")]
    assert recoveries, "a collapse was recovered"
    first = recoveries[0]
    assert first["rolled_back_to_epoch"] < first["epoch"]
    assert first["lr"] == pytest.approx(0.05 * 0.3)
    assert "scheduled hardness" in first["hardness"]  # batch-hard gave way to easy-first
    assert result.evaluation["training"]["collapse"]["state"] == "recovered"
    assert not metrics[-1].get("collapse")
    assert metrics[-1]["batch_spread"] > 0.2 * metrics[1]["batch_spread"]


def test_stop_ends_at_the_first_collapse_with_exit_1(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "siamese",
        "train",
        "--set",
        f'out_dir="{tmp_path}"',
        "--set",
        'name="stopped"',
        "--set",
        'training.on_collapse="stop"',
        *[a for s in COLLAPSING for a in ("--set", s)],
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_S)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "embedding collapsed at epoch" in out.stderr
    metrics = _metrics(tmp_path / "stopped")
    assert metrics[-1]["collapse"] and not any(m.get("collapse") for m in metrics[:-1])


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        (
            "training.on_collapse",
            '"panic"',
            r"training.on_collapse.*recover, warn, stop.*'panic'",
        ),
        ("objective.margin", '"big"', r"margin' = 'big': expected a finite number > 0, 'auto' or"),
    ],
)
def test_bad_values_are_one_line_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [f"{key}={value}"])


def _tiny(encoder_args, data_args, steps=8, epochs=3):
    return [
        f"training.epochs={epochs}",
        f"training.steps_per_epoch={steps}",
        "training.progress=false",
        "training.snapshot_items=0",
        "training.val_batches=2",
        "evaluation.episodes=20",
        "evaluation.val_episodes=10",
        "evaluation.pairs=50",
        *encoder_args,
        *data_args,
    ]


FACES = ['data.source="folders"', "data.grayscale=true", "data.size=32", 'data.normalise="global"']
HEALTHY = {
    "lstm": (TINY_TRAFFIC_MODEL, ['sampling.kind="pk"', "sampling.p=5", "sampling.k=4"]),
    "conv1d": (
        [
            'model.encoder="conv1d"',
            "model.channels=[16, 16]",
            "model.kernels=[5, 3]",
            'model.output_activation="l2"',
        ],
        ['data.source="ucr"', "UCR", 'data.split="protocol"', 'objective.distance="euclidean"']
        + ['sampling.kind="pk"', "sampling.p=2", "sampling.k=8", 'mining.strategy="batch_hard"'],
    ),
    "conv4": (['model.encoder="conv4"', "model.channels=8", "model.embedding_dim=8"], FACES),
    "koch_cnn": (
        ['model.encoder="koch_cnn"', "model.embedding_dim=32", 'objective.name="koch_bce"']
        + ['sampling.kind="pairs"', "sampling.batch_size=4", "data.val_fraction=0.1"],
        [*FACES[:2], "data.size=72", FACES[3], "model.batch_norm=true"],  # 72: its smallest input
    ),
    "mlp": (
        ['model.encoder="mlp"', "model.hidden=[32]", "model.embedding_dim=8"],
        [
            'data.source="tabular"',
            "NSL",
            'data.preset="nsl-kdd"',
            'sampling.kind="pk"',
            "sampling.p=6",
            "sampling.k=4",
        ],
    ),
}


@pytest.mark.parametrize("encoder", sorted(HEALTHY))
def test_healthy_runs_of_every_encoder_family_are_not_flagged(encoder, shared_data, tmp_path):
    model_args, data_args = HEALTHY[encoder]
    paths = {
        "UCR": f'data.path="{shared_data / "ucr" / "GunPoint"}"',
        "NSL": f'data.path="{shared_data / "nsl-kdd" / "KDDTrain+_20Percent.txt"}"',
    }
    data_args = [paths.get(a, a) for a in data_args]
    if any("folders" in a for a in data_args):
        data_args = [*data_args, f'data.path="{shared_data / "att_faces"}"']
    cfg = load_config(
        None, [f'out_dir="{tmp_path}"', f'name="{encoder}"', *_tiny(model_args, data_args)]
    )
    result = train_from_config(cfg, report=False)
    metrics = _metrics(result.run_dir)
    assert not any(m.get("collapse") for m in metrics), [m.get("warnings") for m in metrics]
    assert result.evaluation["training"]["collapse"]["state"] == "healthy"
    assert all("batch_spread" in m for m in metrics[1:])  # measured on every epoch


def test_detector_flags_a_shrinking_embedding_and_spares_a_separating_one():
    torch.manual_seed(0)
    objective = create_objective("triplet", embedding_dim=8, margin=0.2, distance="euclidean")
    labels = torch.arange(4).repeat_interleave(4)
    centres = torch.randn(4, 8)

    def run(scales):
        det = CollapseDetector(0.2, window=5, warmup=5)
        for s in scales:
            emb = s * (centres[labels] + 0.3 * torch.randn(16, 8))
            loss = float(objective(emb, labels))
            det.observe(batch_stats(emb, labels, objective.distance, objective, None, None, loss))
        return det.check(None, {})

    assert run([1.0] * 12) == []
    reasons = run([1.0] + [1e-3] * 11)
    assert reasons and "spread fell" in reasons[0]


def test_recovery_restores_weights_and_lowers_the_learning_rate():
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    rec = CollapseRecovery(lr_factor=0.5)
    rec.remember(2, net, opt)
    kept = {k: v.clone() for k, v in net.state_dict().items()}
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    lr_now = opt.param_groups[0]["lr"]
    miner, change = rec.roll_back(
        net, opt, sched, miner=None, generator=object(), step=5, online=False
    )
    assert miner is None and change["rolled_back_to_epoch"] == 2
    assert all(torch.equal(v, kept[k]) for k, v in net.state_dict().items())
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * lr_now)
    assert sched.base_lrs == [pytest.approx(0.05)] and sched.eta_min == pytest.approx(0.0005)
    assert not opt.state  # the moments of the remembered (untouched) state


def test_sequenced_triplets_restart_easy_and_resume_with_the_restart():
    from siamese.mining import create_sequenced_generator

    labels = np.repeat(np.arange(6), 5)
    kw = dict(triplets_per_batch=4, steps_per_epoch=5, epochs=2, seed=0, threshold=0.8)
    gen = create_sequenced_generator("sigmoid", labels, **kw)
    rng = np.random.default_rng(0)
    gen.refresh(lambda: np.random.default_rng(1).normal(size=(30, 4)).astype(np.float32))
    for _ in range(6):
        gen.make_batch(rng)
    before = gen.target[gen.position - 1]
    gen.restart()
    pos = gen.position
    assert gen.target[pos] == pytest.approx(gen.base_target[0]) and gen.target[pos] < before
    assert gen.target[-1] == pytest.approx(
        gen.base_target[int((gen.total - pos - 1) * gen.total / (gen.total - pos))]
    )
    again = create_sequenced_generator("sigmoid", labels, **kw)
    again.load_state_dict(json.loads(json.dumps(gen.state_dict())))
    assert np.array_equal(again.target, gen.target)


@pytest.mark.parametrize("schedule", ["none", "cosine"])
def test_a_recovered_run_resumes_exactly(tmp_path, monkeypatch, schedule):
    """Collapse at epoch 2, recovery onto the scheduled miner (the learning rate lowered, with a
    cosine schedule its base rates and floor too), killed in epoch 3, resumed."""
    settings = [*COLLAPSING, f'training.lr_schedule="{schedule}"']
    whole = train_from_config(
        load_config(None, [f'out_dir="{tmp_path / "a"}"', 'name="r"', *settings]), report=False
    )
    assert run_metrics(whole.run_dir)[2].get("recovery")
    resumed = killed_and_resumed(tmp_path / "b", monkeypatch, "r", settings)
    assert run_metrics(resumed.run_dir) == run_metrics(whole.run_dir)
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_a_model_that_barely_separates_test_classes_is_called_weak():
    # the old UCR recipe on PLAID after its recovery: no collapse left, but test AUC 0.54
    msg = weak_model_warning({"auc": 0.542, "accuracy": 0.316, "n_way": 5})
    assert msg and "ROC AUC 0.542, 5-way accuracy 0.316 against chance 0.200" in msg
    assert weak_model_warning({"auc": 0.93, "accuracy": 0.8, "n_way": 5}) is None
    assert weak_model_warning({}) is None
