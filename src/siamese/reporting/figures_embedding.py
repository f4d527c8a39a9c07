"""The embedding space over time: snapshot frames on common axes, coloured by class.

Embeddings of 2 or 3 dimensions are drawn on their raw axes (3-D as a fixed-view scatter, so a
sigmoid cube stays a cube); wider ones are projected by one PCA fitted once on all snapshots
together, so every frame shares the same axes and movement between frames is real movement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.ticker
import numpy as np
from sklearn.decomposition import PCA

from siamese.reporting._plot import (
    OTHER_COLOUR,
    canvas_png,
    class_colours,
    figure,
    legend_classes,
    pixel_positions,
    plt_close,
    to_data_uri,
)

MAX_FRAMES = 40  # at most this many frames (evenly spaced, first and last kept)
FRAME_DPI = 95  # pixels per inch of the embedding figures


@dataclass
class EmbeddingFrames:
    """Rendered frames of the embedding space.

    Attributes:
        epochs: the epoch of each frame.
        images: a PNG data URI per frame.
        method: how the space was drawn (``"raw 2-D axes"``, ``"raw 3-D axes"`` or ``"PCA ..."``).
        notes: anything the reader should know (classes in grey, frames skipped).
        pixels: per frame, ``(n, 2)`` where each snapshot item is drawn in the PNG (pixels from
            the top left), for the page's hover.
    """

    epochs: list[int]
    images: list[str]
    method: str
    notes: list[str] = field(default_factory=list)
    pixels: list[np.ndarray] = field(default_factory=list)


def pick_frames(epochs: list[int], limit: int = MAX_FRAMES) -> list[int]:
    """At most ``limit`` epochs, evenly spaced, always keeping the first and the last."""
    if len(epochs) <= limit:
        return list(epochs)
    idx = np.unique(np.round(np.linspace(0, len(epochs) - 1, limit)).astype(int))
    return [epochs[i] for i in idx]


def project(snapshots: dict[int, np.ndarray]) -> tuple[dict[int, np.ndarray], str]:
    """Coordinates to draw per epoch and a description of the projection.

    Args:
        snapshots: ``{epoch: (n, D)}``; every snapshot holds the same items in the same order.

    Returns:
        ``{epoch: (n, 2 or 3)}`` and the method used.
    """
    dim = next(iter(snapshots.values())).shape[1]
    if dim in (2, 3):
        return dict(snapshots), f"raw {dim}-D axes"
    stacked = np.concatenate(list(snapshots.values()))  # (frames * n, D)
    pca = PCA(n_components=2, random_state=0).fit(stacked)
    ratio = pca.explained_variance_ratio_
    method = (
        f"PCA of {dim}-D embeddings, fitted once on all {len(snapshots)} snapshots "
        f"(PC1 {ratio[0]:.0%}, PC2 {ratio[1]:.0%} of the variance)"
    )
    return {e: pca.transform(x) for e, x in snapshots.items()}, method


def embedding_frames(
    snapshots: dict[int, np.ndarray],
    labels: np.ndarray,
    class_names: list[str],
    *,
    best_epoch: int | None = None,
) -> EmbeddingFrames | None:
    """Draw one frame per (chosen) snapshot on shared axes; None without snapshots.

    Args:
        snapshots: ``{epoch: (n, D)}`` embeddings of the same validation items each epoch.
        labels: ``(n,)`` their classes (ids into ``class_names``).
        class_names: names of every class of the dataset.
        best_epoch: marked in the frame title when known.
    """
    if not snapshots or labels is None:
        return None
    epochs = pick_frames(sorted(snapshots))
    coords, method = project({e: snapshots[e] for e in epochs})
    labels = np.asarray(labels)[: len(next(iter(coords.values())))]
    shown = legend_classes(labels)
    colours = class_colours(shown)
    notes = []
    if len(shown) < len(np.unique(labels)):
        notes.append(
            f"{len(np.unique(labels))} classes in the snapshot: the {len(shown)} largest in colour, "
            "the others grey"
        )
    if len(epochs) < len(snapshots):
        notes.append(f"{len(epochs)} of {len(snapshots)} snapshots shown (evenly spaced)")
    all_xyz = np.concatenate(list(coords.values()))
    lo, hi = all_xyz.min(axis=0), all_xyz.max(axis=0)
    pad = (hi - lo) * 0.05 + 1e-6
    images, pixels = _render(
        coords,
        epochs,
        labels,
        shown,
        colours,
        class_names,
        lo - pad,
        hi + pad,
        method=method,
        best_epoch=best_epoch,
    )
    return EmbeddingFrames(epochs, images, method, notes, pixels)


def _title(epoch: int, best_epoch: int | None) -> str:
    title = "before training (epoch 0)" if epoch == 0 else f"epoch {epoch}"
    return title + (" — best epoch" if best_epoch is not None and epoch == best_epoch else "")


def _render(
    coords: dict[int, np.ndarray],
    epochs: list[int],
    labels: np.ndarray,
    shown: np.ndarray,
    colours: dict[int, str],
    class_names: list[str],
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    method: str,
    best_epoch: int | None,
) -> tuple[list[str], list[np.ndarray]]:
    """Lay the figure out once, then move the points and re-render it for each epoch.

    Returns:
        A PNG data URI per frame and where each point landed in it (pixels).
    """
    three_d = lo.shape[0] == 3
    kw = {"subplot_kw": {"projection": "3d"}} if three_d else {}
    fig, ax = figure(7.5, 5.0, **kw)
    groups = []  # (mask, scatter artist)
    other = ~np.isin(labels, shown)
    first = coords[epochs[0]]
    if other.any():
        groups.append(
            (
                other,
                ax.scatter(*first[other].T, s=8, c=OTHER_COLOUR, alpha=0.5, label="other classes"),
            )
        )
    for c in shown:
        m = labels == c
        name = class_names[c] if c < len(class_names) else str(c)
        groups.append((m, ax.scatter(*first[m].T, s=12, c=colours[int(c)], alpha=0.85, label=name)))
    axis_names = ("x", "y", "z") if method.startswith("raw") else ("PC1", "PC2")
    unit = " (embedding units)"
    ax.set_xlabel(axis_names[0] + unit)
    ax.set_ylabel(axis_names[1] + unit)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    if three_d:
        ax.set_zlabel(axis_names[2] + unit)
        ax.set_zlim(lo[2], hi[2])
        ax.view_init(elev=20, azim=-60)
    for axis in (ax.xaxis, ax.yaxis, *((ax.zaxis,) if three_d else ())):
        axis.set_major_locator(matplotlib.ticker.MaxNLocator(4))  # no crowded tick labels
    ax.set_title(f"Validation embeddings, {_title(epochs[-1], best_epoch)}")
    if three_d:
        # tight_layout ignores 3-D axis labels: leave the legend its own margin by hand.
        fig.subplots_adjust(left=0.0, right=0.74, bottom=0.04, top=0.93)
        ax.legend(loc="center left", bbox_to_anchor=(1.12, 0.5), markerscale=1.5, frameon=False)
    else:
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), markerscale=1.5, frameon=False)
        fig.tight_layout()
    # Draw the still parts once (axes, ticks, legend), then only the points and the title of
    # each frame on top of them: a frame costs a few milliseconds, not a full figure draw.
    fig.set_dpi(FRAME_DPI)
    for _, artist in groups:
        artist.set_animated(True)
    ax.title.set_animated(True)
    fig.canvas.draw()
    still = fig.canvas.copy_from_bbox(fig.bbox)
    images, pixels = [], []
    for e in epochs:
        xy = coords[e]
        fig.canvas.restore_region(still)
        for m, artist in groups:
            if three_d:
                artist._offsets3d = tuple(xy[m].T)  # mplot3d has no public setter
                artist.do_3d_projection()  # what Axes3D.draw does before drawing it
            else:
                artist.set_offsets(xy[m])
            ax.draw_artist(artist)
        ax.set_title(f"Validation embeddings, {_title(e, best_epoch)}")
        ax.draw_artist(ax.title)
        images.append(canvas_png(fig))
        pixels.append(pixel_positions(fig, ax, xy, FRAME_DPI))
    plt_close(fig)
    return images, pixels


MAX_SPLIT_POINTS = 600  # test items drawn in the split view (a fixed, evenly spaced subset)


def split_points(n: int) -> np.ndarray:
    """Positions of the test items the split view draws: all, or an evenly spaced subset."""
    if n <= MAX_SPLIT_POINTS:
        return np.arange(n)
    return np.linspace(0, n - 1, MAX_SPLIT_POINTS).astype(int)


@dataclass
class SplitView:
    """The test-classes figure.

    Attributes:
        image: PNG data URI.
        method: how the space was drawn.
        positions: ``(m,)`` positions of the drawn test items among the evaluation items.
        pixels: ``(m, 2)`` where each of them is drawn in the PNG.
        val_pixels: ``(v, 2)`` where each validation (snapshot) item is drawn, or ``None``.
    """

    image: str
    method: str
    positions: np.ndarray
    pixels: np.ndarray
    val_pixels: np.ndarray | None = None


def split_embedding_figure(
    test: np.ndarray,
    test_labels: np.ndarray,
    val: np.ndarray | None,
    val_labels: np.ndarray | None,
    class_names: list[str],
    epoch: int,
) -> SplitView:
    """The evaluated model's embedding of test items (filled, by class) and, when given, of
    validation items (hollow, grey), on one projection fitted on both."""
    test = np.asarray(test)
    keep = split_points(len(test))
    test, test_labels = test[keep], np.asarray(test_labels)[keep]
    both = test if val is None else np.concatenate([test, val])
    if both.shape[1] <= 2:
        xy, method = both, "raw 2-D axes"
    else:
        pca = PCA(n_components=2, random_state=0).fit(both)
        r = pca.explained_variance_ratio_
        xy = pca.transform(both)
        method = (
            f"PCA of {both.shape[1]}-D embeddings fitted on these items "
            f"(PC1 {r[0]:.0%}, PC2 {r[1]:.0%} of the variance)"
        )
    fig, ax = figure(7.5, 5.0)
    if val is not None:
        v = xy[len(test) :]
        ax.scatter(*v.T, s=14, facecolors="none", edgecolors=OTHER_COLOUR, label="validation items")
    shown = legend_classes(test_labels)
    colours = class_colours(shown)
    t = xy[: len(test)]
    other = ~np.isin(test_labels, shown)
    if other.any():
        ax.scatter(*t[other].T, s=10, c="#7f7f7f", marker="x", label="other test classes")
    for c in shown:
        m = np.asarray(test_labels) == c
        name = class_names[c] if c < len(class_names) else str(c)
        ax.scatter(*t[m].T, s=16, c=colours[int(c)], marker="x", label=f"test: {name}")
    names = ("x", "y") if method.startswith("raw") else ("PC1", "PC2")
    ax.set_xlabel(names[0] + " (embedding units)")
    ax.set_ylabel(names[1] + " (embedding units)")
    ax.set_title(f"Test (never-seen) classes, evaluated model (epoch {epoch})")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.tight_layout()
    pixels = pixel_positions(fig, ax, t, FRAME_DPI)
    val_pixels = None if val is None else pixel_positions(fig, ax, xy[len(test) :], FRAME_DPI)
    uri = to_data_uri(fig, dpi=FRAME_DPI, tight=False)
    return SplitView(uri, method, keep, pixels, val_pixels)
