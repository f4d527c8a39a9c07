"""build_report: one self-contained ``report.html`` from a run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from siamese._io import atomic_write_text
from siamese.errors import SiameseError
from siamese.model import SiameseModel
from siamese.reporting import html as h
from siamese.reporting.model_summary import prediction_times
from siamese.reporting.run_data import RunData, load_run_data
from siamese.reporting.run_folder import RunFolder
from siamese.reporting.sections_demo import demo_section
from siamese.reporting.sections_embedding import embedding_section
from siamese.reporting.sections_health import health_section
from siamese.reporting.sections_results import (
    curves_section,
    examples_section,
    results_section,
)
from siamese.reporting.sections_setup import dataset_section, setup_section
from siamese.reporting.sections_task import task_section

REPORT = "report.html"
TIMING_ITEMS = 64  # items used to time predictions


def build_report(run_dir: str | Path, *, output: str | Path | None = None) -> Path:
    """Write ``report.html`` for a finished run, built only from its folder.

    The model and the data are loaded again through the library to draw the ROC curve, the
    distance histograms and the example pairs; if either cannot be loaded, those parts are
    replaced by a note saying why and the rest of the report is still written.

    Args:
        run_dir: a run folder written by ``siamese train``.
        output: where to write the page (default ``<run_dir>/report.html``).

    Returns:
        The path of the written report.

    Raises:
        ConfigError: ``run_dir`` is not a run folder (missing or unreadable files).
    """
    t0 = time.perf_counter()
    run = RunFolder.read(run_dir)
    model, model_note = _load_model(run)
    data, note = load_run_data(run, model) if model is not None else (None, model_note)
    times = _timings(run, model, data)
    cfg = run.config
    demo = demo_section(run)
    sections = [
        ("health", "Training health", health_section(run)),
        *([("demo", "The demo's result", demo)] if demo is not None else []),
        ("dataset", "Dataset analysis", dataset_section(run, data)),
        ("setup", "Experimental setup", setup_section(run, model, times)),
        ("curves", "Curves", curves_section(run, data)),
        ("embedding", "The embedding space over time", embedding_section(run, data)),
        ("results", "Results", results_section(run, data, note)),
        ("task", "The one-shot task: episodes, classes, baselines", task_section(run, data, note)),
        ("examples", "Examples", examples_section(run, data, note)),
    ]
    subtitle = (
        f"{cfg.get('data', {}).get('source')} data · {run.model.get('encoder', {}).get('name')} "
        f"encoder · {(run.info.get('objective') or {}).get('name')} loss · run folder {run.path} · "
        f"report built {time.strftime('%Y-%m-%d %H:%M')} in {time.perf_counter() - t0:.1f} s"
    )
    page = h.page(f"Siamese run report: {cfg.get('name', run.path.name)}", subtitle, sections)
    out = Path(output) if output is not None else run.path / REPORT
    atomic_write_text(out, page)
    return out


def _load_model(run: RunFolder) -> tuple[SiameseModel | None, str | None]:
    try:
        return SiameseModel.load(run.path), None
    except (SiameseError, OSError) as exc:
        return None, f"the model could not be loaded ({exc})"


def _timings(run: RunFolder, model: Any, data: RunData | None) -> dict[str, float] | None:
    """Prediction times on real items when the data loaded, else on zero items of the right shape."""
    if model is None:
        return None
    if data is not None and len(data.eval_items) >= 2:
        idx = np.arange(min(TIMING_ITEMS, len(data.eval_items)))
        items = data.eval_items.load(idx)
        lengths = None if data.eval_items.lengths is None else data.eval_items.lengths[idx]
    else:
        items = np.zeros((TIMING_ITEMS, *run.info.get("item_shape", [])), dtype=np.float32)
        lengths = None
    return prediction_times(model, items, lengths)
