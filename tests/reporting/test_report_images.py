"""A report of an image run (AT&T faces, tiny conv4): thumbnails of real faces in the examples."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image
from report_pages import page_json, page_text

from siamese.model import SiameseModel
from siamese.pipeline import train_from_config
from siamese.reporting import RunFolder, build_report
from siamese.reporting.hover import HOVER_THUMB
from siamese.reporting.run_data import load_run_data
from siamese.reporting.thumbnails import image_thumbnail
from siamese.training import load_config


def test_image_run_report(shared_data, tmp_path):
    cfg = load_config(
        None,
        [
            'name="faces"',
            f'out_dir="{tmp_path}"',
            'data.source="folders"',
            f'data.path="{shared_data / "att_faces"}"',
            "data.grayscale=true",
            "data.size=32",
            'data.normalise="global"',
            'model.encoder="conv4"',
            "model.channels=8",
            "model.embedding_dim=8",
            "training.epochs=1",
            "training.steps_per_epoch=2",
            "training.progress=false",
            "training.val_batches=2",
            "training.snapshot_items=40",
            "sampling.batch_size=8",
            "evaluation.episodes=20",
            "evaluation.val_episodes=10",
            "evaluation.pairs=60",
        ],
    )
    run_dir = train_from_config(cfg, report=False).run_dir
    text = build_report(run_dir).read_text(encoding="utf-8")
    assert "could not" not in text
    assert "Conv2d" in text and "BatchNorm2d" in text
    # The example pairs show the faces themselves: 32 x 32 grayscale thumbnails.
    examples = text[text.index('<section id="examples">') :]
    thumbs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="s\d+"', examples)
    assert len(thumbs) >= 8
    for b64 in thumbs:
        with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
            assert im.mode == "L" and im.size == (32, 32)
    # 40 classes: items per class drawn as one bar per class, split sizes listed.
    assert 'alt="items per class"' in text
    assert re.search(r"<td>train</td><td class=\"num\">\d+</td>", text)
    # Hover: each snapshot point previews its own face, downsampled from the validation item.
    run = RunFolder.read(run_dir)
    data, _ = load_run_data(run, SiameseModel.load(run_dir))
    val, pos = data.parts["val"], run.snapshot_items
    hover = page_json(text, "emb-hover")
    assert hover["kind"] == "image" and len(hover["items"]) == len(pos) == 40
    faces = val.load(pos)
    for i, it in enumerate(hover["items"]):
        assert it["s"] == val.sources[pos[i]] and it["c"] == val.class_names[val.labels[pos[i]]]
        assert it["img"] == image_thumbnail(faces[i], HOVER_THUMB)
    # The example pairs' measured reasons name the brightness and contrast of both faces.
    plain = page_text(text)
    assert re.search(
        r"measured: [\d.]+ (beyond|inside) the distance bound [\d.]+; brightness ", plain
    )
    assert "x the median pair's); contrast " in plain
