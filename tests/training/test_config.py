"""Config files: TOML and YAML, overrides, unknown keys and wrong types."""

from __future__ import annotations

import pytest

from siamese.errors import ConfigError
from siamese.training.config import load_config


def test_toml_and_yaml(tmp_path):
    (tmp_path / "a.toml").write_text(
        'name = "x"\n[training]\nepochs = 2\n[data]\nsource = "traffic"\nn_per_pattern = 5\n'
    )
    (tmp_path / "a.yaml").write_text("name: x\ntraining:\n  epochs: 2\ndata:\n  n_per_pattern: 5\n")
    for f in ("a.toml", "a.yaml"):
        cfg = load_config(tmp_path / f, ["training.learning_rate=0.01"])
        assert cfg.training.epochs == 2 and cfg.data.options == {"n_per_pattern": 5}
        assert cfg.training.learning_rate == 0.01


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[training\nepochs=")
    with pytest.raises(ConfigError, match="not valid toml"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(
        ConfigError,
        match="unknown config key 'training.epoch'; valid keys in \\[training\\]: epochs",
    ):
        load_config(None, ["training.epoch=3"])
    with pytest.raises(ConfigError, match="expected an integer >= 1, got a string"):
        load_config(None, ['training.epochs="three"'])
    with pytest.raises(ConfigError, match="expected one of pairs, triplets, pk"):
        load_config(None, ['sampling.kind="quads"'])
    with pytest.raises(ConfigError, match="unknown config key 'colour'"):
        load_config(None, ["colour=1"])
