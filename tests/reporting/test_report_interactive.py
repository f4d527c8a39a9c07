"""The embedding view's interactive parts: hover previews of the run's own items, pixel positions
that land on the drawn points, the 3-D frames against the snapshot files, and the page's scripts
running without error in headless Chromium."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from _limits import HANG_S
from PIL import Image
from report_pages import page_json
from sklearn.decomposition import PCA

from siamese.data.labeled_dataset import LabeledDataset
from siamese.model import SiameseModel
from siamese.reporting import RunFolder
from siamese.reporting._plot import class_colours
from siamese.reporting.figures_embedding import (
    embedding_frames,
    split_embedding_figure,
    split_points,
)
from siamese.reporting.hover import SERIES_LEVELS, hover_items
from siamese.reporting.run_data import load_run_data
from siamese.reporting.sections_results import channel_ranges
from siamese.reporting.thumbnails import image_thumbnail
from siamese.reporting.view3d import LEVELS, decode_frame, view3d_payload


def _decode(uri: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64)


def _hex(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)


def _lands_on_own_colour(png: np.ndarray, pixels: np.ndarray, labels: np.ndarray) -> None:
    """Around each point's pixel (2 px either side: antialiased marker edges) its own class's
    colour, as drawn (alpha 0.85 on white), is nearer than any other class's."""
    colours = class_colours(labels)
    ids = sorted(colours)
    palette = np.stack([_hex(colours[c]) * 0.85 + 255 * 0.15 for c in ids])  # (C, 3)
    for (x, y), c in zip(np.round(pixels).astype(int), labels, strict=True):
        window = png[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 1, 3)  # (25, 1, 3)
        nearest = ((window - palette[None]) ** 2).sum(-1).min(axis=0)  # (C,)
        assert np.argmin(nearest) == ids.index(int(c)), (x, y, c)
        assert nearest[ids.index(int(c))] < 3 * 40**2  # the marker itself, not the background


POINTS = {  # five points apart in 2-D, and five corners of a cube
    2: np.array([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]], dtype=np.float64),
    3: np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=np.float64),
}


def test_hover_pixels_land_on_the_drawn_points():
    labels = np.arange(5)
    for dim in (2, 3):  # raw 2-D axes, and the matplotlib 3-D scatter of raw 3-D axes
        snaps = {0: POINTS[dim] * 0.5, 1: POINTS[dim]}
        frames = embedding_frames(snaps, labels, [f"c{i}" for i in range(5)])
        for uri, px in zip(frames.images, frames.pixels, strict=True):
            _lands_on_own_colour(_decode(uri), px, labels)
    test = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    view = split_embedding_figure(test, np.arange(4), None, None, list("abcd"), 3)
    assert np.array_equal(view.positions, np.arange(4)) and view.val_pixels is None
    _lands_on_own_colour(_decode(view.image), view.pixels, np.arange(4))
    assert len(split_points(5000)) == 600 and split_points(5000)[-1] == 4999


def test_hover_previews_of_images_and_vectors():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(4, 1, 64, 40)).astype(np.uint8)
    ds = LabeledDataset(
        images,
        np.array([0, 0, 1, 1]),
        ["ann", "bob"],
        [f"f{i}.png" for i in range(4)],
        kind="image",
    )
    out = hover_items(ds, np.array([3, 1]))
    assert [it["c"] for it in out["items"]] == ["bob", "ann"]
    assert [it["s"] for it in out["items"]] == ["f3.png", "f1.png"]
    assert out["items"][0]["img"] == image_thumbnail(images[3], 48)
    assert _decode(out["items"][0]["img"]).shape[:2] == (48, 30)  # downsampled, aspect kept
    vec = np.array([[1.0, 50.0, -3.0, 0.5], [0.0, 0.0, 0.0, 9.0]])
    z = np.array([[0.1, 2.0, -4.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    ds = LabeledDataset(vec, np.array([0, 1]), ["a", "b"], ["r1", "r2"], kind="vector")
    out = hover_items(ds, np.array([0]), normalised=z[:1], feature_names=["w", "x", "y", "z"])
    assert out["items"][0]["f"][:3] == [["y", -3.0, -4.0], ["x", 50.0, 2.0], ["w", 1.0, 0.1]]


def test_traffic_report_hover_shows_the_runs_items(traffic_report, traffic_run):
    page = traffic_report.read_text(encoding="utf-8")
    run = RunFolder.read(traffic_run)
    data, _ = load_run_data(run, SiameseModel.load(traffic_run))
    val, pos = data.parts["val"], run.snapshot_items
    hover = page_json(page, "emb-hover")
    assert hover["kind"] == "sequence" and len(hover["items"]) == len(pos) == len(
        run.snapshot_labels
    )
    lo, hi = (np.asarray(r)[: len(hover["lo"])] for r in channel_ranges(data))
    assert np.allclose(hover["lo"], lo) and np.allclose(hover["hi"], hi)
    x = val.load(pos)
    for i, it in enumerate(hover["items"]):
        assert (
            it["c"]
            == val.class_names[run.snapshot_labels[i]]
            == val.class_names[val.labels[pos[i]]]
        )
        assert it["s"] == val.sources[pos[i]]
        series = x[i][: it["n"], : len(lo)]  # 24 steps: every step kept
        shown = lo + np.asarray(it["v"]).T / SERIES_LEVELS * (hi - lo)
        assert np.allclose(shown, np.clip(series, lo, hi), atol=float((hi - lo).max()) / 1000)
    # One set of point positions per frame, one position per snapshot item.
    frames = page_json(page, "emb-pixels")
    assert len(frames) == page.count('data-group="emb"') == len(run.snapshots)
    assert all(len(f[0]["xy"]) == 2 * len(pos) and f[0]["h"] == "emb-hover" for f in frames)
    # The test-classes figure: its items are the evaluated test items it draws.
    test = page_json(page, "test-hover")
    keep = split_points(len(data.eval_items))
    assert [it["s"] for it in test["items"]] == [data.eval_items.sources[i] for i in keep]
    sets = page_json(page, "test-pixels")[0]
    assert [s["h"] for s in sets] == ["test-hover", "emb-hover"]
    assert len(sets[0]["xy"]) == 2 * len(keep) and len(sets[1]["xy"]) == 2 * len(pos)


def test_traffic_report_3d_frames_are_the_snapshots(traffic_report, traffic_run):
    page = traffic_report.read_text(encoding="utf-8")
    run = RunFolder.read(traffic_run)
    view = page_json(page, "v3d-data")
    epochs = sorted(run.snapshots)
    assert len(view["frames"]) == len(epochs) and view["hover"] == "emb-hover"
    evaluated = run.evaluated_epoch
    assert view["start"] == epochs.index(evaluated)
    assert view["frames"][view["start"]]["label"].endswith("(evaluated)")
    # 4-D embeddings: one PCA fitted on the evaluated epoch, every epoch through it.
    pca = PCA(n_components=3, random_state=0).fit(run.snapshots[evaluated])
    box = np.asarray(view["hi"]) - np.asarray(view["lo"])
    for i, e in enumerate(epochs):
        expected = pca.transform(run.snapshots[e])
        assert np.allclose(decode_frame(view, i), expected, atol=float(box.max()) / LEVELS)
    names = run.class_names
    assert [view["classes"][p] for p in view["points"]] == [names[c] for c in run.snapshot_labels]
    assert f"fitted once on epoch {evaluated}" in view["method"]
    assert '<button type="button">play</button>' in page


def test_3d_payload_raw_cube_and_narrow_embeddings():
    rng = np.random.default_rng(3)
    cube = {e: rng.random((20, 3)) for e in range(4)}
    labels = np.repeat(np.arange(4), 5)
    view = view3d_payload(cube, labels, list("abcd"), evaluated=2)
    assert view["method"] == "the embedding's own 3 coordinates" and view["start"] == 2
    for e in range(4):
        assert np.abs(decode_frame(view, e) - cube[e]).max() <= 1.0 / LEVELS
    assert view3d_payload({0: rng.random((5, 2))}, np.zeros(5, int), ["a"], evaluated=0) is None


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no headless Chromium on this machine")
    return path


SIMULATE = """<script>
window.addEventListener('load', function(){
  var root = document.documentElement, img = null;
  var frames = document.querySelectorAll('img[data-group="emb"]');
  for (var i = 0; i < frames.length; i++) { if (!frames[i].hidden) { img = frames[i]; } }
  var xy = siameseJson('emb-pixels')[+img.getAttribute('data-frame')][0].xy;
  var r = img.getBoundingClientRect();
  img.dispatchEvent(new MouseEvent('mousemove', {bubbles: true,
    clientX: r.left + xy[0] * r.width / img.naturalWidth,
    clientY: r.top + xy[1] * r.height / img.naturalHeight}));
  var tip = document.querySelector('.tip');
  root.setAttribute('data-tip-2d', tip && !tip.hidden ? tip.innerHTML : 'none');
  var cv = document.querySelector('.view3d canvas'), c = cv.getBoundingClientRect(), hit = 'none';
  for (var y = 0; y < c.height && hit === 'none'; y += 2) {
    for (var x = 0; x < c.width; x += 2) {
      cv.dispatchEvent(new MouseEvent('mousemove', {clientX: c.left + x, clientY: c.top + y}));
      if (!tip.hidden) { hit = tip.innerHTML; break; }
    }
  }
  root.setAttribute('data-tip-3d', hit);
  document.querySelector('.view3d button').click();
  setTimeout(function(){
    root.setAttribute('data-during', document.querySelector('.v3d-label').textContent);
  }, 150);
});
</script>"""


def test_page_scripts_run_in_headless_chromium(traffic_report, traffic_run, tmp_path):
    chromium = _chromium()
    page = traffic_report.read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", SIMULATE + "</body>"), encoding="utf-8")
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=True,
    ).stdout
    head = dom[: dom.index("<head")]
    assert 'data-js="ready"' in head and "data-js-errors" not in head
    run = RunFolder.read(traffic_run)
    first = run.class_names[run.snapshot_labels[0]]
    tip2d = re.search(r'data-tip-2d="([^"]*)"', head).group(1)
    assert f"&lt;b&gt;{first}&lt;/b&gt;" in tip2d and "canvas" in tip2d  # its class and sparkline
    assert "canvas" in re.search(r'data-tip-3d="([^"]*)"', head).group(1)  # a point in 3-D
    assert 'data-during="before training"' in head  # play went back to epoch 0 and on
    last = max(run.snapshots)
    assert f'<span class="v3d-label">epoch {last} (evaluated)</span>' in dom  # and to the end
