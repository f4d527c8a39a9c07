"""Every registered encoder, trained tiny with every option on, exports to ONNX and TorchScript
and computes what the library computes: the embedding (normaliser, test-time views, true lengths
of padded series) and the pair head. A new encoder or option that cannot export fails here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hf_tiny import tiny_model_folder

from siamese.encoders import encoder_options, list_encoders
from siamese.export import export_model
from siamese.model import SiameseModel
from siamese.pipeline import train_from_config
from siamese.training import load_config

# Every argument of every encoder, set to the value that turns it on (input_shape: from the data).
ALL_ON = {
    "conv1d": {
        "channels": [4, 6],
        "kernels": [3, 2, 1],
        "residual": True,
        "pooling": "meanmax",
        "dense": [6],
        "dropout": 0.1,
        "embedding_dim": 4,
        "output_activation": "sigmoid",
        "max_length": 8,
    },
    "conv4": {
        "channels": [2, 3, 4, 5],
        "embedding_dim": 4,
        "dropout": 0.1,
        "output_activation": "l2",
    },
    "face_resnet": {"widths": [2, 3, 4, 5], "embedding_dim": 4, "output_activation": "l2"},
    "face_aligned": {
        "points": "5",
        "padding": 0.3,
        "landmark_box": 0.8,
        "fallback_crop": 0.7,
        "widths": [2, 3, 4, 5],
        "embedding_dim": 4,
        "output_activation": "l2",
    },
    "hf_vision": {"pooling": "mean", "embedding_dim": 4, "output_activation": "l2"},
    "koch_cnn": {
        "embedding_dim": 6,
        "batch_norm": True,
        "dropout": 0.1,
        "dense_init_std": 0.02,
        "channels": [4, 6, 6, 8],
    },
    "lstm": {
        "hidden_size": 4,
        "num_layers": 2,
        "bidirectional": True,
        "dropout": 0.1,
        "pooling": "stats",
        "dense": [6],
        "embedding_dim": 4,
        "output_activation": "l2",
        "instance_norm": True,
        "summary_stats": True,
        "spectrum": 3,
        "fixed_features": 0.5,
        "input_batch_norm": True,
    },
    "mlp": {
        "hidden": [6],
        "embedding_dim": 4,
        "batch_norm": True,
        "dropout": 0.1,
        "output_activation": "l2",
        "input_dropout": 0.1,
        "input_swap": 0.1,
    },
}
IMAGE_SIZE = {
    "conv4": 12,
    "koch_cnn": 66,
    "face_resnet": 103,
    "face_aligned": 48,
    "hf_vision": 16,  # resized to the tiny ViT's 32x32 inside the encoder
}  # koch_cnn's four convolutions need 65 pixels or more
# Arguments set another way: hf_vision's model folder (the fixture's tiny ViT) and the
# architecture the run writes into model.json.
SET_ELSEWHERE = {"hf_vision": {"pretrained", "architecture"}}
PIXELS = ("hf_vision", "face_aligned")  # their own preprocessing: data.normalise must be none
KIND = {
    "conv1d": "sequence",
    "lstm": "sequence",
    "mlp": "vector",
    "conv4": "image",
    "koch_cnn": "image",
    "face_resnet": "image",
    "face_aligned": "image",
    "hf_vision": "image",
}


def _write_ts(path, rng) -> None:
    """A variable-length 2-dimensional UCR .ts file: 4 classes x 6 series of 10 to 24 steps."""
    lines = [
        "@problemName Tiny",
        "@timeStamps false",
        "@missing false",
        "@univariate false",
        "@dimensions 2",
        "@equalLength false",
        "@classLabel true a b c d",
        "@data",
    ]
    for c, label in enumerate("abcd"):
        for _ in range(6):
            t = np.arange(rng.integers(10, 25))
            dims = [np.abs(np.sin(t * (c + 1) / 3) + 0.1 * rng.normal(size=len(t))) for _ in "xy"]
            lines.append(":".join(",".join(f"{v:.4f}" for v in d) for d in dims) + f":{label}")
    path.write_text("\n".join(lines) + "\n")


def _data(name: str, folder) -> list[str]:
    """Config overrides for a tiny real data file of the encoder's kind."""
    rng = np.random.default_rng(0)
    if KIND[name] == "sequence":
        _write_ts(folder / "Tiny_TRAIN.ts", rng)
        norm = "log_feature" if name == "lstm" else "feature"
        return [
            'data.source="ucr"',
            f'data.path="{folder / "Tiny_TRAIN.ts"}"',
            f'data.normalise="{norm}"',
        ]
    labels = np.repeat(np.arange(6), 5)
    if KIND[name] == "vector":
        items = (rng.normal(size=(30, 5)) + labels[:, None]).astype(np.float32)
        extra = ['data.normalise="feature"']
    else:
        s = IMAGE_SIZE[name]
        items = rng.integers(0, 256, size=(30, s, s), dtype=np.uint8)
        items[:, : s // 2] //= (labels[:, None, None] + 1).astype(np.uint8)
        norm = "none" if name in PIXELS else "global"  # these take 0-255 pixels
        extra = [f'data.normalise="{norm}"', "evaluation.test_time_shift=1", 'data.kind="image"']
    np.savez(folder / "tiny.npz", items=items, labels=labels)
    return ['data.source="arrays"', f'data.path="{folder / "tiny.npz"}"', *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``trained(name)``: a run folder of the encoder trained 1 epoch x 2 steps with Koch's head."""
    runs = {}

    def train(name: str):
        if name not in runs:
            folder = tmp_path_factory.mktemp(name)
            args = [f"model.{k}={json.dumps(v)}" for k, v in ALL_ON[name].items()]
            if name == "hf_vision":
                args.append(f'model.pretrained="{tiny_model_folder(folder)}"')
            cfg = load_config(None, [
                f'name="{name}"', f'out_dir="{folder}"', f'model.encoder="{name}"', *args,
                *_data(name, folder), "data.val_fraction=0.25", "data.test_fraction=0.25",
                'objective.name="koch_bce"', 'sampling.kind="pairs"', "sampling.batch_size=6",
                "training.epochs=1", "training.steps_per_epoch=2", "training.val_batches=1",
                "training.progress=false", "evaluation.episodes=4", "evaluation.val_episodes=4",
                "evaluation.pairs=10",
            ])  # fmt: skip
            train_from_config(cfg, report=False)
            runs[name] = folder / name
        return runs[name]

    return train


@pytest.mark.parametrize("name", list_encoders())
def test_every_option_is_on(name):
    assert name in ALL_ON, f"encoder {name!r}: add it to ALL_ON with every option turned on"
    missing = set(encoder_options(name)) - {"input_shape"} - set(ALL_ON[name])
    missing -= SET_ELSEWHERE.get(name, set())
    assert not missing, f"encoder {name!r}: add option(s) {sorted(missing)} to ALL_ON, turned on"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("format", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", list_encoders())
def test_every_encoder_exports_with_every_option(trained, name, format):
    run = trained(name)
    model = SiameseModel.load(run)
    assert model.head is not None
    assert (model.normaliser.mode == "none") == (name in PIXELS)
    assert model.test_time_shift == (1 if KIND[name] == "image" else 0)
    report = export_model(run, format)
    assert report["max_abs_diff"] <= 1e-4 and report["head_max_abs_diff"] <= 1e-4
    assert "items of" in report["checked_on"]  # real items of the run's data, not random ones
    takes_lengths = KIND[name] == "sequence"
    assert report["inputs"] == (["items", "lengths"] if takes_lengths else ["items"])
    if takes_lengths:
        assert "full and cut lengths" in report["checked_on"]
