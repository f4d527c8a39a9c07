"""Margins that fit the embedding space: "auto" measured on the untrained model, far-off warned."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from siamese.errors import ConfigError
from siamese.objectives import create_objective
from siamese.pipeline import train_from_config
from siamese.reporting.run_folder import RunFolder
from siamese.reporting.sections_health import health_section
from siamese.training import load_config
from siamese.training.margin import distance_bound, fit_margin
from tests.tiny_runs import tiny_config


def _dists(scale):
    rng = np.random.default_rng(0)
    return {"pos": scale * rng.uniform(0.5, 1.0, 200), "neg": scale * rng.uniform(0.8, 1.5, 800)}


def test_auto_is_a_share_of_the_untrained_median_distance():
    for name, factor in (("triplet", 0.2), ("contrastive", 1.0)):
        obj = create_objective(name, embedding_dim=8, distance="euclidean")
        d = _dists(30.0)
        rec = fit_margin(name, "auto", obj, d)
        median = float(np.median(np.concatenate([d["pos"], d["neg"]])))
        assert obj.margin == pytest.approx(factor * median)
        assert rec["margin"] == obj.margin and rec["set_by"].startswith("auto")


def test_a_margin_far_below_the_distances_is_warned_naming_both():
    # a euclidean margin of 0.5 on unnormalised 1024-d embeddings whose distances are in the tens
    obj = create_objective("contrastive", embedding_dim=1024, margin=0.5, distance="euclidean")
    with pytest.warns(
        UserWarning, match=r"margin 0\.5 is far outside .*distances.*\(1\d\.\d to 4\d"
    ):
        fit_margin("contrastive", 0.5, obj, _dists(30.0))


def test_a_margin_beyond_a_bounded_embedding_is_warned_and_a_fitting_one_is_not():
    obj = create_objective("triplet", embedding_dim=8, margin=2.5, distance="cosine")
    with pytest.warns(UserWarning, match="allows at most 2"):
        fit_margin("triplet", 2.5, obj, _dists(1.0), bound=distance_bound("cosine", "l2", 8))
    obj = create_objective("triplet", embedding_dim=8, margin=0.2, distance="cosine")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_margin("triplet", 0.2, obj, _dists(1.0), bound=2.0)
    assert distance_bound("squared_euclidean", "l2", 8) == 4.0
    assert distance_bound("euclidean", "none", 8) is None


def test_auto_needs_an_objective_with_a_margin():
    obj = create_objective("koch_bce", embedding_dim=8)
    with pytest.raises(ConfigError, match=r'margin = "auto": koch_bce has no margin'):
        fit_margin("koch_bce", "auto", obj, _dists(1.0))


def test_a_run_with_auto_records_the_margin_and_the_report_plots_it(tmp_path):
    cfg = tiny_config(
        tmp_path, "auto", ['objective.margin="auto"', 'objective.distance="euclidean"']
    )
    result = train_from_config(cfg)
    rec = json.loads((result.run_dir / "margin.json").read_text())
    assert rec["set_by"].startswith("auto: 0.2 x median")
    assert result.model.info["objective"]["margin"] == pytest.approx(rec["margin"])
    for part in ("untrained", "trained"):
        assert sum(rec[part]["pos"]) > 0 and sum(rec[part]["neg"]) > 0
    assert rec["margin"] == pytest.approx(0.2 * rec["untrained"]["quantiles"]["0.5"])
    html = health_section(RunFolder.read(result.run_dir))
    assert "distance distributions against the margin" in html and "No collapse" in html
    saved = load_config(result.run_dir / "config.json")
    assert saved.objective.margin == "auto"  # the config keeps what the user asked for
