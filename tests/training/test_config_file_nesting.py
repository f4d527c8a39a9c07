"""A config file nested thousands of levels deep is one clean error, not a RecursionError."""

from __future__ import annotations

import pytest

from siamese.errors import ConfigError
from siamese.training.config import read_config_file


@pytest.mark.parametrize(
    ("suffix", "text"), [(".json", "[" * 5000 + "]" * 5000), (".yaml", "[" * 5000 + "]" * 5000)]
)
def test_deeply_nested_config_files_are_one_line(tmp_path, suffix, text):
    path = tmp_path / f"deep{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"nested too deep|not valid"):
        read_config_file(path)
