"""Config checks: every range, NaN/inf and cross-field error, all at once, before anything is
written; runs that fail are marked failed; a run name cannot leave out_dir.

``BAD`` is a probe: each row is one bad setting as users write it and a fragment of the one line
that must name it.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from pathlib import Path

import pytest
from tiny_runs import tiny_config

from siamese.encoders import list_encoders
from siamese.encoders._registry import _ENCODERS
from siamese.errors import ConfigError
from siamese.pipeline import train_from_config
from siamese.training import load_config
from siamese.training.config import RunConfig, describe_fields
from siamese.training.config_checks import ENCODER_RULES, RULES, config_errors
from siamese.training.run_status import read_status
from siamese.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]

BAD = [
    ("training.learning_rate=-1", "'training.learning_rate' = -1.0: expected a finite number > 0"),
    ("training.learning_rate=nan", "'training.learning_rate' = nan: expected a finite number > 0"),
    ("training.learning_rate=inf", "'training.learning_rate' = inf: expected a finite number"),
    ("training.epochs=-3", "'training.epochs' = -3: expected an integer >= 1 (default 10)"),
    ("training.epochs=0", "'training.epochs' = 0: expected an integer >= 1"),
    ("training.steps_per_epoch=0", "'training.steps_per_epoch' = 0: expected an integer >= 1"),
    ("training.patience=-1", "'training.patience' = -1: expected an integer >= 0 (default 5)"),
    ("training.momentum=1.5", "'training.momentum' = 1.5: expected a finite number in [0, 1)"),
    ("training.weight_decay=-0.1", "'training.weight_decay' = -0.1: expected a finite number >= 0"),
    ("training.grad_clip=nan", "'training.grad_clip' = nan: expected"),
    ("training.min_delta=-1", "'training.min_delta' = -1.0: expected"),
    ("training.val_batches=0", "'training.val_batches' = 0: expected an integer >= 1"),
    ("training.snapshot_items=-1", "'training.snapshot_items' = -1: expected"),
    ("training.threads=-2", "'training.threads' = -2: expected an integer >= 0"),
    ("objective.margin=nan", "'objective.margin' = nan: expected a finite number > 0"),
    ("objective.margin=-0.2", "'objective.margin' = -0.2: expected a finite number > 0"),
    ("objective.margin=0", "'objective.margin' = 0.0: expected a finite number > 0"),
    ("objective.alpha=0", "'objective.alpha' = 0.0: expected a finite number > 0"),
    ("objective.beta=-inf", "'objective.beta' = -inf: expected"),
    ("objective.base=2", "'objective.base' = 2.0: expected a finite number in [-1, 1]"),
    ("sampling.p=0", "'sampling.p' = 0: expected an integer >= 2 (default 16)"),
    ("sampling.p=1", "'sampling.p' = 1: expected an integer >= 2"),
    ("sampling.k=1", "'sampling.k' = 1: expected an integer >= 2"),
    ("sampling.batch_size=0", "'sampling.batch_size' = 0: expected an integer >= 2"),
    ("sampling.batch_size=1", "'sampling.batch_size' = 1: expected an integer >= 2"),
    ("sampling.group=-1", "'sampling.group' = -1: expected an integer >= 0"),
    ("sampling.group=1", "'sampling.group' = 1: expected 0 (classes at random) or a group"),
    ("sampling.pool=0", "'sampling.pool' = 0: expected an integer >= 1"),
    ("sampling.per_class=0", "'sampling.per_class' = 0: expected an integer >= 1"),
    ("mining.threshold=1.5", "'mining.threshold' = 1.5: expected a finite number in [0, 1]"),
    ("mining.growth=0", "'mining.growth' = 0.0: expected a finite number > 0"),
    ("mining.midpoint=-0.1", "'mining.midpoint' = -0.1: expected"),
    ("mining.cycles=0", "'mining.cycles' = 0: expected an integer >= 1"),
    ("mining.refresh_every=-1", "'mining.refresh_every' = -1: expected an integer >= 0"),
    ("mining.margin=nan", "'mining.margin' = nan: expected a finite number > 0"),
    ("evaluation.k_shot=0", "'evaluation.k_shot' = 0: expected an integer >= 1 (default 1)"),
    ("evaluation.n_way=0", "'evaluation.n_way' = 0: expected an integer >= 2"),
    ("evaluation.n_way=1", "'evaluation.n_way' = 1: expected an integer >= 2"),
    ("evaluation.episodes=-5", "'evaluation.episodes' = -5: expected an integer >= 1"),
    ("evaluation.val_episodes=0", "'evaluation.val_episodes' = 0: expected an integer >= 1"),
    ("evaluation.pairs=1", "'evaluation.pairs' = 1: expected an integer >= 2"),
    ("evaluation.test_time_shift=-1", "'evaluation.test_time_shift' = -1: expected"),
    ("data.val_fraction=-0.1", "'data.val_fraction' = -0.1: expected a finite number in [0, 1)"),
    ("data.test_fraction=1.0", "'data.test_fraction' = 1.0: expected a finite number in [0, 1)"),
    ("data.test_fraction=nan", "'data.test_fraction' = nan: expected"),
    ("data.val_fraction=0.8", "'data.val_fraction' + 'data.test_fraction' = 0.8 + 0.2: expec"),
    ("data.crop=-4", "'data.crop' = -4: expected an integer >= 0"),
    (
        'model.encoder="hf_vision"',
        "'data.normalise' = 'feature': hf_vision takes 0-255 pixels and applies its own",
    ),
    ('model.encoder="face_aligned"', "'data.normalise' = 'feature': face_aligned takes 0-255"),
    ("data.val_fold=-2", "'data.val_fold' = -2: expected an integer >= -1"),
    ("data.val_fold=0", "'data.val_fold' = 0: a fold needs data.split = 'protocol', data.val_s"),
    ("seed=-1", "'seed' = -1: expected an integer >= 0"),
    ('name="../../x"', "'name' = '../../x': expected a relative folder name inside out_dir"),
    ('name="a/../../x"', "'name' = 'a/../../x': expected a relative folder name"),
    ('name="/abs/x"', "'name' = '/abs/x': expected a relative folder name"),
    ('name=""', "'name' = '': expected a relative folder name"),
    ('name="."', "'name' = '.': expected a relative folder name"),
    ('out_dir=""', "'out_dir' = '': expected a folder"),
    ('model.hidden_size="big"', "'model.hidden_size' = 'big': expected an integer (lstm arg"),
    ("model.hidden_size=1.5", "'model.hidden_size' = 1.5: expected an integer"),
    ("model.hidden_size=true", "'model.hidden_size' = True: expected an integer"),
    ("model.embedding_dim=-5", "'model.embedding_dim' = -5: expected an integer >= 1"),
    ("model.num_layers=0", "'model.num_layers' = 0: expected an integer >= 1"),
    ("model.dense=[8, 0]", "'model.dense' = [8, 0] (element 0): expected an integer >= 1 each"),
    ('model.dense="wide"', "'model.dense' = 'wide': expected a list of integers"),
    ("model.dropout=1.0", "'model.dropout' = 1.0: expected a finite number in [0, 1)"),
    ("model.dropout=nan", "'model.dropout' = nan: expected a finite number in [0, 1)"),
    ("model.bidirectional=2", "'model.bidirectional' = 2: expected true or false"),
    ("model.pooling=3", "'model.pooling' = 3: expected a string"),
    ("model.spectrum=-1", "'model.spectrum' = -1: expected an integer >= 0"),
    ("model.fixed_features=-1", "'model.fixed_features' = -1: expected a finite number >= 0"),
]


@pytest.mark.parametrize("override,needle", BAD, ids=[o for o, _ in BAD])
def test_probe_bad_settings(override, needle):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and needle in lines[0], lines


@pytest.mark.parametrize(
    "encoder,override,needle",
    [
        ("conv4", "model.channels=[64, 0, 64, 64]", "'model.channels' = [64, 0, 64, 64] (elem"),
        ("conv4", "model.channels=-8", "'model.channels' = -8: expected an integer >= 1"),
        ("conv4", 'model.channels="many"', "expected an integer or a list of integers"),
        ("conv1d", "model.kernels=[8, -1]", "'model.kernels' = [8, -1] (element -1)"),
        ("mlp", "model.hidden=[0]", "'model.hidden' = [0] (element 0): expected an integer"),
        ("mlp", "model.input_swap=1.0", "'model.input_swap' = 1.0: expected a finite number"),
        ("koch_cnn", "model.dense_init_std=0", "'model.dense_init_std' = 0: expected a finite"),
        ("koch_cnn", "model.batch_norm=1", "'model.batch_norm' = 1: expected true or false"),
    ],
)
def test_encoder_arguments_of_every_family(encoder, override, needle):
    with pytest.raises(ConfigError) as info:
        load_config(None, [f'model.encoder="{encoder}"', override])
    assert needle in str(info.value)


def test_every_error_is_reported_at_once_one_line_each():
    overrides = [
        "training.epochs=-3",
        "training.learning_rate=nan",
        "sampling.p=0",
        "evaluation.k_shot=0",
        'name="../../x"',
        'model.hidden_size="big"',
    ]
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    lines = str(info.value).splitlines()
    assert len(lines) == len(overrides), lines
    for key in ("training.epochs", "learning_rate", "sampling.p", "k_shot", "'name'", "hidden"):
        assert sum(key in line for line in lines) == 1, key


def test_type_choice_key_and_range_errors_all_at_once(tmp_path, capsys, monkeypatch):
    """Wrong types do not stop the checks: every wrong type, unknown key, bad choice and range
    error of a config is one line (the CLI prefixes each with error:), exit 2, nothing written."""
    from siamese.cli.app import main

    (tmp_path / "bad.toml").write_text(
        'name = "typed"\ndata = 3\n'
        '[model]\nhidden_size = "big"\n'
        '[training]\nepochs = "x"\nlearning_rate = -1\ncolour = 3\n'
        '[sampling]\np = 1.5\nkind = "quads"\n'
        '[evaluation]\nn_way = "five"\nk_shot = 0\n'
    )
    expected = [
        "config key 'model.hidden_size' = 'big': expected an integer (lstm argument",
        "config key 'training.epochs' = 'x': expected an integer >= 1, got a string (default 10)",
        "config key 'training.learning_rate' = -1.0: expected a finite number > 0",
        "unknown config key 'training.colour'; valid keys in [training]: epochs",
        "config key 'sampling.p' = 1.5: expected an integer >= 2, got a number (default 16)",
        "config key 'sampling.kind': expected one of pairs, triplets, pk, pair_list, got 'quads'",
        "config key 'evaluation.n_way' = 'five': expected an integer >= 2 or left out, got a "
        "string (default None)",
        "config key 'evaluation.k_shot' = 0: expected an integer >= 1",
        "[data]: expected a table of keys, got an integer (3)",
    ]
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "bad.toml")
    lines = str(info.value).splitlines()
    assert len(lines) == len(expected), lines
    for needle in expected:
        assert sum(needle in line for line in lines) == 1, (needle, lines)

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--config", str(tmp_path / "bad.toml")])
    err = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and len(err) == len(expected), err
    assert all(line.startswith("error: ") for line in err), err
    assert not (tmp_path / "runs").exists()


def test_every_numeric_field_has_a_range():
    """A field added later must come with its valid range (or it would go unchecked)."""
    cfg = RunConfig()
    for key, default, _ in describe_fields():
        section, _, name = key.rpartition(".")
        owner = _section(cfg, section)
        hint = typing.get_type_hints(type(owner))[name]
        numeric = {int, float} & set(typing.get_args(hint) or (hint,))
        if numeric and not isinstance(default, bool):
            assert key in RULES, f"{key} has no range in config_checks.RULES"
    assert set(RULES) <= {key for key, _, _ in describe_fields()}


def test_every_numeric_encoder_argument_has_a_range():
    for name in list_encoders():
        hints = typing.get_type_hints(_ENCODERS[name])
        for arg in inspect.signature(_ENCODERS[name]).parameters:
            words = repr(hints[arg])
            if arg != "input_shape" and ("int" in words or "float" in words):
                assert arg in ENCODER_RULES, f"{name}({arg}) has no range"


def _section(cfg, dotted):
    for part in filter(None, dotted.split(".")):
        cfg = getattr(cfg, part)
    return cfg


def test_defaults_shipped_configs_and_margin_auto_are_valid():
    assert config_errors(RunConfig()) == []
    for path in sorted((ROOT / "configs").glob("*.toml")):
        load_config(path)  # raises on any error
    auto = dataclasses.replace(
        RunConfig(), objective=dataclasses.replace(RunConfig().objective, margin="auto")
    )
    assert config_errors(auto) == []  # another part of the library resolves "auto"
    yaml_none = dataclasses.replace(RunConfig(), model=dataclasses.replace(RunConfig().model))
    yaml_none.model.encoder, yaml_none.model.args = "conv4", {"embedding_dim": None}
    assert config_errors(yaml_none) == []  # conv4: no projection


def test_config_file_not_utf8_or_a_folder(tmp_path):
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(
        ConfigError, match=r"latin1.toml: not UTF-8 text \(byte 0xe9 at offset 11\)"
    ):
        load_config(tmp_path / "latin1.toml")
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError, match=r"dir.toml is a folder; pass an existing"):
        load_config(tmp_path / "dir.toml")


def test_out_dir_that_is_a_file(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"'out_dir' = .*runs is a file, not a folder"):
        load_config(None, [f'out_dir="{tmp_path / "runs"}"'])
    with pytest.raises(ConfigError, match=r"runs is a file, not a folder"):
        load_config(None, [f'out_dir="{tmp_path / "runs" / "deeper"}"'])
    assert (tmp_path / "runs").read_text() == "not a folder"


def test_n_way_beyond_the_classes_and_k_shot_0_fail_before_the_run_folder(tmp_path):
    """The simulator's default split leaves 2 test and 2 validation classes: an explicit n_way
    beyond them is an error found once the data is read, before the run folder exists; a
    left-out n_way takes the classes there are."""
    with pytest.raises(ConfigError) as info:
        train_from_config(tiny_config(tmp_path, "wide", ["evaluation.n_way=50"]), report=False)
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and lines[0].startswith(
        "config key 'evaluation.n_way' = 50: the test split has only 2 classes with >= 2 items "
        "(k_shot + 1) of its 2; set evaluation.n_way <= 2, leave it out (as many classes as the "
        "split has, up to 5), or give the test split more classes"
    ), lines
    assert "the val split has only 2 classes" in lines[1]
    with pytest.raises(ConfigError, match="'evaluation.n_way' = 3: the test split has only 2"):
        train_from_config(tiny_config(tmp_path, "wide", ["evaluation.n_way=3"]), report=False)
    assert not (tmp_path / "wide").exists()
    with pytest.raises(ConfigError, match="'evaluation.k_shot' = 0"):
        train_from_config(tiny_config(tmp_path, "k0", ["evaluation.k_shot=0"]), report=False)
    assert not (tmp_path / "k0").exists()
    done = train_from_config(tiny_config(tmp_path, "fits", ["evaluation.n_way=2"]), report=False)
    assert done.evaluation["n_way"] == 2


def test_a_failed_run_is_marked_and_rerunning_says_what_to_do(tmp_path, monkeypatch):
    original = Trainer._train_epoch

    def broken(self, epoch, bar):
        if epoch == 2:
            raise RuntimeError("disk full")
        return original(self, epoch, bar)

    monkeypatch.setattr(Trainer, "_train_epoch", broken)
    with pytest.raises(RuntimeError):
        train_from_config(tiny_config(tmp_path, "r"), report=False)
    status = read_status(tmp_path / "r")
    assert status["status"] == "failed" and status["error"] == "RuntimeError: disk full"
    monkeypatch.setattr(Trainer, "_train_epoch", original)
    with pytest.raises(ConfigError, match=r"holds a run that failed \(RuntimeError: disk full\); "
                       r"pass --resume to continue it from its last checkpoint, --overwrite"):  # fmt: skip
        train_from_config(tiny_config(tmp_path, "r"), report=False)
    done = train_from_config(tiny_config(tmp_path, "r"), resume=True, report=False)
    assert read_status(done.run_dir)["status"] == "finished"
    assert [m["epoch"] for m in map(json.loads, (done.run_dir / "metrics.jsonl").open())] == [
        0,
        1,
        2,
        3,
    ]


def test_a_run_that_failed_before_its_first_checkpoint(tmp_path, monkeypatch):
    def broken(self, epoch, bar):
        raise RuntimeError("boom")

    monkeypatch.setattr(Trainer, "_train_epoch", broken)
    with pytest.raises(RuntimeError):
        train_from_config(tiny_config(tmp_path, "r"), report=False)
    with pytest.raises(ConfigError, match=r"failed \(RuntimeError: boom\); pass --overwrite"):
        train_from_config(tiny_config(tmp_path, "r"), report=False)
    with pytest.raises(ConfigError, match=r"--resume: no checkpoint .*\(the last run is failed\)"):
        train_from_config(tiny_config(tmp_path, "r"), resume=True, report=False)
