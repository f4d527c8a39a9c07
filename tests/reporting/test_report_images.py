"""A report of an image run (AT&T faces, tiny conv4): thumbnails of real faces in the examples."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from siamese.pipeline import train_from_config
from siamese.reporting import build_report
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
