"""`siamese report` and `siamese sweep` from the command line."""

from __future__ import annotations

import csv
import json

import pytest

from siamese.cli.app import main
from siamese.errors import ConfigError
from siamese.pipeline.sweep import parse_grid, run_name
from siamese.reporting import html as h


def _main(argv):
    """Run the CLI in-process; return the exit code (0 when it returns normally)."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code
    return 0


def test_report_command(traffic_report, tmp_path, capsys):
    # The fixture ran `siamese report RUN_DIR` (exit code 0) and the page is in the run folder.
    assert traffic_report.stat().st_size > 10_000
    assert _main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "not found" in err and "Traceback" not in err
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    assert _main(["report", str(tmp_path / "half")]) == 2
    assert "missing metrics.jsonl, model.json" in capsys.readouterr().err


TINY_TOML = """
name = "lr"
seed = 3
[data]
n_per_pattern = 10
length = 16
[model]
hidden_size = 6
num_layers = 1
embedding_dim = 3
dense = [6]
[training]
epochs = 1
steps_per_epoch = 2
progress = false
val_batches = 1
snapshot_items = 20
[sampling]
batch_size = 6
[evaluation]
episodes = 10
val_episodes = 5
pairs = 30
"""


def test_sweep_command(tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    argv = [
        "sweep",
        str(config),
        "--set",
        f'out_dir="{tmp_path}"',
        "--grid",
        "training.learning_rate=1e-5,0.01",
        "--grid",
        "sampling.batch_size=6",
    ]
    assert _main(argv) == 0
    sweep_dir = tmp_path / "lr"
    with (sweep_dir / "sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [float(r["training.learning_rate"]) for r in rows] == [1e-5, 0.01]
    data = json.loads((sweep_dir / "sweep.json").read_text())
    assert data["seed"] == 3 and len(data["runs"]) == 2
    page = (sweep_dir / "report.html").read_text()
    for r in data["runs"]:
        assert (sweep_dir / r["report"]).is_file()  # each run has its own report...
        assert f'href="{r["report"]}"' in page  # ...linked from the summary
        cfg = json.loads((sweep_dir / r["run"] / "config.json").read_text())
        assert cfg["seed"] == 3 and cfg["sampling"]["batch_size"] == 6
    assert page.count("data:image/png;base64,") >= 2  # metric-versus-parameter plots
    out = capsys.readouterr().out
    assert "table: " in out
    # 1e-5 shown as written (not 0.0000), in the page and in the CLI table.
    assert "<td>1e-05</td>" in page and "1e-05" in out and "0.0000" not in page + out
    # The best run is the one with the best validation figure; test accuracy never chooses.
    best = max(data["runs"], key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    assert (
        f"chosen by the highest validation one-shot accuracy at the evaluated epoch: <b>{best['run']}</b>"
        in page
    )
    assert f'<tr class="best"><td><a href="{best["report"]}">' in page
    for r in data["runs"]:
        assert f"{h.fmt(r['accuracy'])} ± {h.fmt(r['accuracy_ci95'])}" in page  # 95% CIs
    assert page.count('alt="training loss per epoch, every run"') == 1  # overlaid curves
    # Running it again without --overwrite refuses to replace the runs.
    assert _main(argv) == 2
    assert "already exists" in capsys.readouterr().err


def test_sweep_grid_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="expected key=v1,v2"):
        parse_grid(["training.learning_rate"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_grid(["a=1", "a=2"])
    with pytest.raises(ConfigError, match="no --grid given"):
        parse_grid([])
    assert parse_grid(["model.dense=[8,8],[4]", "x=a,b"]) == {
        "model.dense": [[8, 8], [4]],
        "x": ["a", "b"],
    }
    assert run_name(1, {"training.learning_rate": 0.001}) == "01_learning_rate=0.001"
    # A bad value is caught for every point before anything trains.
    code = _main(["sweep", "--set", f'out_dir="{tmp_path}"', "--grid", "training.epochs=1,x"])
    assert code == 2 and "sweep point" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
