"""Plot machinery shared by the figure files: headless matplotlib, PNG data URIs, class colours."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: never open a window, never need a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

STYLE = {
    "figure.dpi": 100,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
MAX_LEGEND_CLASSES = 12  # more classes than this: the largest ones in colour, the rest grey
OTHER_COLOUR = "#c8c8c8"
SERIES = {  # one colour per metric, the same in every figure
    "train": "#1f77b4",
    "val": "#ff7f0e",
    "auc": "#2ca02c",
    "target": "#9467bd",
    "achieved": "#8c564b",
    "collapse": "#d62728",
    "same": "#1f77b4",
    "different": "#d62728",
}


def figure(width: float = 6.0, height: float = 3.6, **kwargs: Any) -> tuple[Any, Any]:
    """A new figure and axes in the report's style (sizes in inches at 100 dpi)."""
    with plt.rc_context(STYLE):
        return plt.subplots(figsize=(width, height), **kwargs)


def to_data_uri(
    fig: Any, dpi: int = 100, *, tight: bool = True, close: bool = True, whole: bool = False
) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI (and close it).

    Args:
        fig: the figure.
        dpi: pixels per inch.
        tight: fit the layout first (slow; off for figures laid out by hand).
        close: free the figure afterwards (off to render it again as a new frame).
        whole: save everything drawn, a legend outside the axes included (the picture grows
            to hold it), rather than the figure's own rectangle.
    """
    buf = io.BytesIO()
    with plt.rc_context(STYLE):
        if tight:
            fig.tight_layout()
        extra = {"bbox_inches": "tight", "pad_inches": 0.08} if whole else {}
        fig.savefig(buf, format="png", dpi=dpi, **extra)
    if close:
        plt.close(fig)
    return png_uri(buf.getvalue())


def canvas_png(fig: Any) -> str:
    """What the figure's Agg canvas holds now (after ``draw`` / ``draw_artist``), as a PNG data
    URI, without drawing it again."""
    from PIL import Image

    rgba = np.asarray(fig.canvas.buffer_rgba())  # (H, W, 4)
    buf = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(buf, format="PNG")
    return png_uri(buf.getvalue())


def plt_close(fig: Any) -> None:
    """Free a figure that is not rendered."""
    plt.close(fig)


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def class_colours(class_ids: np.ndarray) -> dict[int, str]:
    """A distinct colour per class, fixed by its rank among ``class_ids`` (sorted ids).

    tab10 for up to 10 classes; else tab20 taken dark shades first, so neighbours differ.
    """
    ids = np.unique(class_ids)
    if len(ids) <= 10:
        cmap, order = plt.get_cmap("tab10"), list(range(10))
    else:
        cmap, order = plt.get_cmap("tab20"), list(range(0, 20, 2)) + list(range(1, 20, 2))
    return {
        int(c): matplotlib.colors.to_hex(cmap(order[i % len(order)])) for i, c in enumerate(ids)
    }


def legend_classes(labels: np.ndarray, limit: int = MAX_LEGEND_CLASSES) -> np.ndarray:
    """The classes worth a colour and a legend entry: all, or the ``limit`` largest."""
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) <= limit:
        return classes
    order = np.lexsort((classes, -counts))  # most items first, then by id
    return np.sort(classes[order[:limit]])


def mark_epochs(ax: Any, epochs: list[int], label: str = "collapse warning") -> None:
    """Dashed red vertical lines at ``epochs`` (one legend entry for all)."""
    for i, e in enumerate(epochs):
        ax.axvline(e, color=SERIES["collapse"], ls="--", lw=1, label=label if i == 0 else None)


def integer_epochs(ax: Any) -> None:
    """Whole-number ticks on the epoch axis."""
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def pixel_positions(fig: Any, ax: Any, coords: np.ndarray, dpi: float) -> np.ndarray:
    """Where data points land in the PNG that ``savefig(dpi=dpi)`` writes (no tight bbox).

    Args:
        fig: the figure, drawn with its final layout (3-D axes: drawn at least once).
        ax: the axes the points belong to (2-D, or mplot3d).
        coords: ``(n, 2)`` or, on 3-D axes, ``(n, 3)`` data coordinates.
        dpi: the dpi the figure is saved at.

    Returns:
        ``(n, 2)`` pixel positions from the image's top left corner.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.shape[1] == 3:
        from mpl_toolkits.mplot3d import proj3d

        x, y, _ = proj3d.proj_transform(*coords.T, ax.get_proj())
        coords = np.stack([x, y], axis=1)
    display = ax.transData.transform(coords)  # (n, 2) at fig.dpi, origin bottom left
    scale = dpi / fig.dpi
    height = fig.get_size_inches()[1] * dpi
    return np.stack([display[:, 0] * scale, height - display[:, 1] * scale], axis=1)
