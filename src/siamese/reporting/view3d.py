"""The 3-D view of the embedding over the epochs: data for the page's canvas viewer.

A 3-D embedding is drawn on its own coordinates (a sigmoid output stays in its unit cube); a
wider one is projected by one PCA fitted once, on the evaluated epoch's embeddings, and every
epoch goes through that same projection, so motion between frames is motion of the embedding.
The page rotates the view by drag and steps through the epochs with play / pause
(``_scripts.VIEW3D_JS``); nothing is fetched from elsewhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from siamese.reporting import html as h
from siamese.reporting._plot import OTHER_COLOUR, class_colours, legend_classes
from siamese.reporting.figures_embedding import pick_frames
from siamese.reporting.hover import json_script

LEVELS = 1000  # coordinates are stored as integers 0..LEVELS inside the frames' common box


def project_3d(
    embeddings: dict[int, np.ndarray], fit_epoch: int
) -> tuple[dict[int, np.ndarray], str, list[str]] | None:
    """3-D coordinates per epoch, how they were made, and the axis names.

    Args:
        embeddings: ``{epoch: (n, D)}``, the same items in the same order each epoch.
        fit_epoch: the epoch the PCA is fitted on (the evaluated one) when ``D > 3``.

    Returns:
        ``None`` for embeddings of fewer than 3 dimensions (the 2-D view is the space itself).
    """
    dim = next(iter(embeddings.values())).shape[1]
    if dim < 3:
        return None
    if dim == 3:
        coords = {e: np.asarray(x, dtype=np.float64) for e, x in embeddings.items()}
        return coords, "the embedding's own 3 coordinates", ["x", "y", "z"]
    fit = fit_epoch if fit_epoch in embeddings else max(embeddings)
    pca = PCA(n_components=3, random_state=0).fit(embeddings[fit])
    r = pca.explained_variance_ratio_
    method = (
        f"PCA of the {dim}-D embeddings fitted once on epoch {fit} (PC1 {r[0]:.0%}, "
        f"PC2 {r[1]:.0%}, PC3 {r[2]:.0%} of that epoch's variance); every epoch is projected "
        "on the same three axes"
    )
    return {e: pca.transform(x) for e, x in embeddings.items()}, method, ["PC1", "PC2", "PC3"]


def view3d_payload(
    embeddings: dict[int, np.ndarray],
    labels: np.ndarray,
    class_names: list[str],
    *,
    evaluated: int,
    frame_label: Any = None,
    hover: str | None = None,
) -> dict[str, Any] | None:
    """What the canvas viewer draws: quantised coordinates per frame, classes and colours.

    Args:
        embeddings: ``{epoch: (n, D)}`` (snapshots, or one epoch of test items).
        labels: ``(n,)`` class ids into ``class_names``.
        evaluated: the evaluated epoch (the view opens on it; the PCA is fitted on it).
        frame_label: ``epoch -> label`` (default: "epoch E").
        hover: id of the JSON element with the items' previews, in the same order.

    Returns:
        ``None`` when there is nothing to draw in 3-D; else ``frames`` (``label``, ``q``: flat
        ``x, y, z`` integers 0..LEVELS per point), ``lo`` / ``hi`` (the box in embedding
        units), ``axes``, ``method``, ``points`` (class index per point into ``classes`` /
        ``colours``), ``start`` and ``hover``.
    """
    if not embeddings or labels is None:
        return None
    epochs = pick_frames(sorted(embeddings))
    made = project_3d({e: embeddings[e] for e in epochs}, evaluated)
    if made is None:
        return None
    coords, method, axes = made
    labels = np.asarray(labels)[: len(coords[epochs[0]])]
    shown = legend_classes(labels)
    colours = class_colours(shown)
    classes = [class_names[c] if c < len(class_names) else str(c) for c in shown]
    palette = [colours[int(c)] for c in shown]
    index = {int(c): i for i, c in enumerate(shown)}
    points = [index.get(int(c), len(shown)) for c in labels]
    if len(shown) < len(np.unique(labels)):
        classes.append("other classes")
        palette.append(OTHER_COLOUR)
    stacked = np.concatenate([coords[e] for e in epochs])
    lo, hi = stacked.min(axis=0), stacked.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    label = frame_label or (lambda e: f"epoch {e}")
    frames = [
        {
            "label": label(e),
            "q": np.round((coords[e] - lo) / span * LEVELS).astype(int).ravel().tolist(),
        }
        for e in epochs
    ]
    start = epochs.index(evaluated) if evaluated in epochs else len(epochs) - 1
    return {
        "frames": frames,
        "lo": [float(v) for v in lo],
        "hi": [float(v) for v in hi],
        "axes": axes,
        "method": method,
        "points": points,
        "classes": classes,
        "colours": palette,
        "start": start,
        "hover": hover,
    }


def decode_frame(payload: dict[str, Any], i: int) -> np.ndarray:
    """Frame ``i``'s coordinates back in embedding units (as the page computes them)."""
    q = np.asarray(payload["frames"][i]["q"], dtype=np.float64).reshape(-1, 3)
    lo, hi = np.asarray(payload["lo"]), np.asarray(payload["hi"])
    return lo + q / LEVELS * np.where(hi > lo, hi - lo, 1.0)


def view3d_html(element_id: str, payload: dict[str, Any]) -> str:
    """The canvas, its controls (play / pause, epoch slider), a legend and the data."""
    last = len(payload["frames"]) - 1
    start = payload["start"]
    legend = "".join(
        f'<span><i style="background:{c}"></i>{h.esc(n)}</span>'
        for n, c in zip(payload["classes"], payload["colours"], strict=True)
    )
    box = ", ".join(
        f"{a} {h.fmt(lo, 3)} to {h.fmt(hi, 3)}"
        for a, lo, hi in zip(payload["axes"], payload["lo"], payload["hi"], strict=True)
    )
    disabled = " disabled" if last == 0 else ""
    return (
        f'<div class="view3d" data-src="{element_id}-data">'
        f'<canvas width="760" height="520" aria-label="3-D embedding view"></canvas>'
        f'<div class="slider"><button type="button"{disabled}>play</button>'
        f'<input type="range" min="0" max="{last}" value="{start}"{disabled}>'
        f'<span class="v3d-label">{h.esc(payload["frames"][start]["label"])}</span></div>'
        f'<div class="legend">{legend}</div>'
        f'<p class="small">Box (embedding units): {h.esc(box)}. Drag to rotate; hover a point to '
        "see its item.</p></div>" + json_script(f"{element_id}-data", payload)
    )
