"""The report's embedding section: the snapshots over time (2-D frames behind a slider and a
rotatable 3-D view with play / pause), the never-seen test classes in the evaluated model, and a
preview of the item behind every point on hover."""

from __future__ import annotations

from typing import Any

import numpy as np

from siamese.reporting import html as h
from siamese.reporting.episodes import raw_features
from siamese.reporting.figures_embedding import embedding_frames, split_embedding_figure
from siamese.reporting.hover import hover_items, json_script
from siamese.reporting.run_data import RunData
from siamese.reporting.run_folder import RunFolder
from siamese.reporting.sections_results import channel_ranges, novelty
from siamese.reporting.view3d import view3d_html, view3d_payload

VAL_HOVER, TEST_HOVER = "emb-hover", "test-hover"  # ids of the JSON elements with the previews


def embedding_section(run: RunFolder, data: RunData | None = None) -> str:
    """The snapshot frames behind a slider (opening on the evaluated epoch), the same epochs in
    3-D, and the evaluated model's embedding of the test (never-seen) classes beside the
    validation ones; hovering a point shows its item."""
    evaluated = run.evaluated_epoch
    frames = embedding_frames(
        run.snapshots,
        run.snapshot_labels,
        run.class_names,
        best_epoch=run.training.get("best_epoch"),
    )
    out, scripts = [], []
    val_hover, why = _val_hover(run, data)
    if val_hover is not None:
        scripts.append(json_script(VAL_HOVER, val_hover))
    test_view = None
    if data is not None and data.eval_name == "test":
        test_view = _test_view(run, data, evaluated, val_hover is not None)
        scripts.append(json_script(TEST_HOVER, _previews(run, data, data.eval_items, test_view[1])))

    def frame_label(e: int) -> str:
        return ("before training" if e == 0 else f"epoch {e}") + (
            " (evaluated)" if e == evaluated else ""
        )

    if frames is None:
        out.append(
            h.note(
                "No embedding snapshots over time in this run (they are taken of validation "
                "items: training.snapshot_items = 0 or no validation split)."
            )
        )
    else:
        n = len(run.snapshot_labels) if run.snapshot_labels is not None else 0
        start = frames.epochs.index(evaluated) if evaluated in frames.epochs else None
        out.append(
            f"<p>{n} validation items ({novelty(run, 'val')}), embedded after every epoch. "
            f"Drawn on {h.esc(frames.method)}; all frames share the axes. The view opens on "
            f"epoch {evaluated}, the evaluated one; move the slider to go through the epochs. "
            + (
                "Hover a point to see its item.</p>"
                if val_hover is not None
                else f"No previews on hover: {h.esc(why)}.</p>"
            )
        )
        out += [h.note(t) for t in frames.notes]
        pixels = None
        if val_hover is not None:
            pixels = "emb-pixels"
            sets = [[_point_set(VAL_HOVER, "validation item", px)] for px in frames.pixels]
            scripts.append(json_script(pixels, sets))
        labels = [frame_label(e) for e in frames.epochs]
        out.append(
            h.slider(
                "emb",
                list(zip(labels, frames.images, strict=True)),
                "embedding space",
                start,
                pixels,
            )
        )
    out.append(_view3d(run, data, evaluated, frame_label, val_hover is not None, test_view))
    if test_view is not None:
        out.append(test_view[0])
    return "".join(out) + "".join(scripts)


def _point_set(hover: str, label: str, pixels: np.ndarray) -> dict[str, Any]:
    return {"h": hover, "l": label, "xy": np.round(pixels).astype(int).ravel().tolist()}


def _view3d(
    run: RunFolder,
    data: RunData | None,
    evaluated: int,
    frame_label: Any,
    val_hover: bool,
    test_view: tuple[str, np.ndarray] | None,
) -> str:
    """The snapshots in 3-D; without snapshots, the test items of the evaluated model."""
    title = "<h3>The embedding in 3-D over the epochs</h3>"
    if run.snapshots and run.snapshot_labels is not None:
        payload = view3d_payload(
            run.snapshots,
            run.snapshot_labels,
            run.class_names,
            evaluated=evaluated,
            frame_label=frame_label,
            hover=VAL_HOVER if val_hover else None,
        )
        what = f"The {len(run.snapshot_labels)} validation items of the frames above"
    elif test_view is not None and data is not None:
        keep = test_view[1]
        payload = view3d_payload(
            {evaluated: data.embeddings[keep]},
            data.eval_items.labels[keep],
            run.class_names,
            evaluated=evaluated,
            frame_label=lambda e: f"epoch {e} (evaluated), test items",
            hover=TEST_HOVER,
        )
        title = "<h3>The embedding in 3-D (evaluated model, test items)</h3>"
        what = (
            f"No snapshots over time (no validation split): the {len(keep)} test items of the "
            "evaluated model, one frame"
        )
    else:
        return ""
    if payload is None:
        dim = run.model.get("embedding_dim")
        return h.note(
            f"No 3-D view: the embedding has {dim} dimensions; the 2-D view is the space."
        )
    return (
        title
        + f"<p>{what}, drawn on {h.esc(payload['method'])}. It opens on epoch {evaluated}, the "
        "evaluated one; <i>play</i> steps through the epochs (the motion between two epochs is "
        "drawn in between them).</p>" + view3d_html("v3d", payload)
    )


def _test_view(
    run: RunFolder, data: RunData, evaluated: int, val_hover: bool
) -> tuple[str, np.ndarray]:
    """The test-classes figure with its hover positions, and which test items it draws."""
    val = run.snapshots.get(evaluated)
    val_labels = run.snapshot_labels if val is not None else None
    view = split_embedding_figure(
        data.embeddings, data.eval_items.labels, val, val_labels, run.class_names, evaluated
    )
    sets = [_point_set(TEST_HOVER, "test item", view.pixels)]
    if view.val_pixels is not None and val_hover:
        sets.append(_point_set(VAL_HOVER, "validation item", view.val_pixels))
    drawn = len(view.positions)
    count = f"{len(data.eval_items)} test items"
    if drawn < len(data.eval_items):
        count += f" ({drawn} of them drawn, evenly spaced)"
    html = (
        f"<h3>Never-seen test classes in the evaluated model (epoch {evaluated})</h3>"
        f"<p>{count} ({novelty(run, 'test')})"
        + (" beside the validation items of the same epoch" if val is not None else "")
        + f", drawn on {h.esc(view.method)}. Hover a point to see its item.</p>"
        + f'<figure><img src="{view.image}" alt="test and validation embeddings"'
        + h.hover_attributes("test-pixels")
        + "></figure>"
        + json_script("test-pixels", [sets])
    )
    return html, view.positions


def _val_hover(run: RunFolder, data: RunData | None) -> tuple[dict[str, Any] | None, str]:
    """Previews of the snapshot items (validation split), or ``None`` and why not."""
    if data is None:
        return None, "the run's data could not be read again"
    val = data.parts.get("val")
    pos, labels = run.snapshot_items, run.snapshot_labels
    if val is None or not len(val) or pos is None or labels is None:
        return None, "the run recorded no snapshot item positions (snapshots/items.json)"
    if len(pos) != len(labels) or pos.max(initial=-1) >= len(val):
        return None, "snapshots/items.json does not match the validation split read again"
    if not np.array_equal(val.labels[pos], labels):
        return None, "the validation items read again are not those of the snapshots"
    return _previews(run, data, val, pos), ""


def _previews(run: RunFolder, data: RunData, items: Any, positions: np.ndarray) -> dict[str, Any]:
    """``hover_items`` with the report's shared series axes, normaliser and names."""
    kind = items.kind
    normalised = None
    if kind == "vector":
        normalised = raw_features(data.model, items.load(np.asarray(positions)))
    return hover_items(
        items,
        positions,
        ranges=channel_ranges(data) if kind == "sequence" else None,
        normalised=normalised,
        feature_names=data.dataset.meta.get("feature_names"),
        channels=run.dataset.get("meta", {}).get("channels"),
    )
