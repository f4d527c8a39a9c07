"""hf_vision: tiny random Hugging Face vision models (saved with save_pretrained into tmp_path, no
network) as encoders: every family and pooling, the model's own preprocessing, layer groups,
the errors of folders that are not vision models, and the library without transformers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hf_tiny import KINDS, PREPROCESSOR, tiny_model_folder
from hf_tiny import tiny_config as tiny_config_of

from siamese.encoders import create_encoder
from siamese.encoders._hf_preprocess import ImagePreprocess, preprocess_spec
from siamese.errors import ConfigError
from siamese.model import SiameseModel

tf = pytest.importorskip("transformers")


def _encoder(folder, **kw):
    kw = {"input_shape": (3, 32, 32), "pretrained": str(folder), **kw}
    return create_encoder("hf_vision", **kw)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pooling", ["pooled", "cls", "mean"])
def test_every_family_and_pooling_embeds_and_trains(tmp_path, kind, pooling):
    folder = tiny_model_folder(tmp_path, kind)
    if kind == "convnext" and pooling == "cls":
        with pytest.raises(ConfigError, match="'cls': ConvNextModel is convolutional"):
            _encoder(folder, pooling=pooling)
        return
    torch.manual_seed(0)
    enc = _encoder(folder, input_shape=(1, 40, 40), pooling=pooling, embedding_dim=8)
    x = torch.rand(3, 1, 40, 40) * 255  # grayscale, resized to the model's 32x32
    out = enc(x)
    assert out.shape == (3, 8) and enc.embedding_dim == 8
    out.sum().backward()
    first = enc.layer_groups()[0][0]  # the embeddings learn through every layer
    assert first.grad is not None and first.grad.abs().sum() > 0
    grey = enc(x[:, :1].expand(-1, 3, -1, -1))
    assert torch.allclose(out, grey, atol=1e-5)  # C=1 is the image repeated in R, G and B


@pytest.mark.parametrize("kind", ["vit", "dinov2", "clip_vision"])
def test_the_pooled_output_is_the_models_own(tmp_path, kind):
    """Without a projection, ``pooled`` and ``cls`` are the transformers model's own outputs on
    the preprocessed image (weights as saved)."""
    folder = tiny_model_folder(tmp_path, kind)
    model = tf.AutoModel.from_pretrained(folder).eval()
    x = torch.rand(2, 3, 32, 32) * 255
    pixels = (x / 255 - 0.5) / 0.5  # PREPROCESSOR: 32x32 already, rescale, mean/std 0.5
    with torch.no_grad():
        ref = model(pixel_values=pixels)
        for pooling, want in [("pooled", ref.pooler_output), ("cls", ref.last_hidden_state[:, 0])]:
            got = _encoder(folder, pooling=pooling).eval()(x)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        mean = _encoder(folder, pooling="mean").eval()(x)
        torch.testing.assert_close(mean, ref.last_hidden_state[:, 1:].mean(1), atol=1e-5, rtol=0)


def test_preprocessing_matches_the_models_image_processor():
    """Resize (bicubic, shortest edge), centre crop, rescale and normalise as transformers'
    CLIPImageProcessor does with Pillow, to within Pillow's 8-bit rounding."""
    proc = tf.CLIPImageProcessor(
        size={"shortest_edge": 24}, crop_size={"height": 20, "width": 20}, do_convert_rgb=False
    )
    spec = preprocess_spec(proc.to_dict(), "test")
    assert spec["resample"] == "bicubic" and spec["crop"] == {"height": 20, "width": 20}
    yy, xx = np.mgrid[0:30, 0:40]  # a smooth picture (noise is not what cameras see)
    image = np.stack([128 + 100 * np.sin(xx / 5 + c) * np.cos(yy / 7) for c in range(3)], -1)
    image = image.astype(np.uint8)  # H x W x RGB
    want = proc(images=[image], return_tensors="pt")["pixel_values"]  # (1, 3, 20, 20)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    got = ImagePreprocess(spec, 30, 40)(x)
    assert got.shape == want.shape == (1, 3, 20, 20)
    levels = (got - want).abs() * torch.tensor(proc.image_std).reshape(1, 3, 1, 1) * 255
    assert levels.max() < 1.5 and levels.mean() < 0.5  # Pillow rounds to 8 bits between passes


def test_layer_groups_cover_the_model_in_order(tmp_path):
    enc = _encoder(tiny_model_folder(tmp_path, "vit"), embedding_dim=4)
    groups = enc.layer_groups()
    # embeddings, the 2 transformer layers, final norm + pooler, the projection
    assert len(groups) == 5 and groups[-1] == list(enc.proj.parameters())
    layers = enc.backbone.layers if hasattr(enc.backbone, "layers") else enc.backbone.encoder.layer
    assert groups[1] == list(layers[0].parameters()) and groups[2] == list(layers[1].parameters())
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(list(enc.parameters()))
    no_proj = _encoder(tiny_model_folder(tmp_path, "convnext")).layer_groups()
    assert len(no_proj) == 4  # embeddings, 2 stages, final norm (the head when unprojected)


def test_a_saved_model_rebuilds_without_the_hugging_face_folder(tmp_path):
    folder = tiny_model_folder(tmp_path / "hf", "dinov2")
    enc = _encoder(folder, pooling="mean", embedding_dim=4)
    args = {"input_shape": [3, 32, 32], "pretrained": str(folder), "pooling": "mean",
            "embedding_dim": 4, **enc.rebuild_args()}  # fmt: skip
    SiameseModel(enc, encoder_name="hf_vision", encoder_args=args).save(tmp_path / "m")
    json.dumps(args)  # model.json keeps it as plain JSON
    for f in folder.iterdir():
        f.unlink()
    loaded = SiameseModel.load(tmp_path / "m")
    x = torch.rand(2, 3, 32, 32) * 255
    torch.testing.assert_close(loaded.embed(x), enc.eval()(x), atol=1e-6, rtol=0)


def _folder_with(tmp_path, files: dict):
    d = tmp_path / "bad"
    d.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        p = d / name
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
    return d


def test_folders_that_are_not_vision_models_are_named(tmp_path):
    good = tiny_model_folder(tmp_path, "vit")
    cfg, pre = (good / "config.json").read_text(), json.dumps(PREPROCESSOR)
    weights = (good / "model.safetensors").read_bytes()
    cases = [
        ({"model.safetensors": weights, "preprocessor_config.json": pre},
         r"bad/config.json: missing; expected a transformers model folder"),
        ({"config.json": cfg, "preprocessor_config.json": pre},
         r"bad/model.safetensors: missing; expected the model's weights"),
        ({"config.json": cfg, "pytorch_model.bin": b"\x80\x04pickle", "preprocessor_config.json": pre},
         r"bad/pytorch_model.bin: a pickle checkpoint, refused"),
        ({"config.json": cfg, "model.safetensors": weights},
         r"bad/preprocessor_config.json: missing; expected the model's image preprocessing"),
        ({"config.json": json.dumps({"hidden_size": 4}), "model.safetensors": weights},
         r"bad/config.json: no 'model_type'"),
        ({"config.json": json.dumps({"model_type": "no_such_model"}), "model.safetensors": weights},
         r"bad/config.json: model_type 'no_such_model' is not one this transformers"),
        ({"config.json": "{not json", "model.safetensors": weights},
         r"bad/config.json, line 1, column 2: malformed JSON"),
        ({"config.json": cfg, "model.safetensors": b"garbage", "preprocessor_config.json": pre},
         r"bad/model.safetensors: cannot be loaded into ViTModel"),
        ({"config.json": cfg, "model.safetensors": weights,
          "preprocessor_config.json": json.dumps({**PREPROCESSOR, "image_std": [1, 2]})},
         r"preprocessor_config.json: 'image_std' = \[1, 2\]: expected three numbers"),
    ]  # fmt: skip
    for i, (files, needle) in enumerate(cases):
        folder = _folder_with(tmp_path / str(i), files)
        with pytest.raises(ConfigError, match=needle):
            _encoder(folder)
    with pytest.raises(ConfigError, match=r"does not exist; expected a folder holding config"):
        _encoder(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"model.pretrained: expected the folder"):
        _encoder("")
    with pytest.raises(ConfigError, match="model.pooling = 'max': expected one of pooled"):
        _encoder(good, pooling="max")


def test_a_text_model_is_refused(tmp_path):
    bert = tf.BertModel(
        tf.BertConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            vocab_size=50,
        )
    )
    bert.save_pretrained(tmp_path / "bert")
    (tmp_path / "bert" / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR))
    with pytest.raises(ConfigError, match=r"model_type 'bert' is not a vision model .*'input_ids'"):
        _encoder(tmp_path / "bert")


def test_weights_of_another_model_are_named(tmp_path):
    vit = tiny_model_folder(tmp_path / "a", "vit")
    dino = tiny_model_folder(tmp_path / "b", "dinov2")
    mixed = _folder_with(tmp_path, {
        "config.json": (dino / "config.json").read_text(),
        "model.safetensors": (vit / "model.safetensors").read_bytes(),
        "preprocessor_config.json": json.dumps(PREPROCESSOR),
    })  # fmt: skip
    with pytest.raises(ConfigError, match=r"bad/model.safetensors: tensor '.*' is missing"):
        _encoder(mixed)


def test_without_transformers_the_library_works_and_the_error_names_the_extra(monkeypatch):
    code = (
        "import sys; sys.modules['transformers'] = None\n"  # import transformers -> ImportError
        "import torch, siamese.model\n"
        "from siamese.encoders import create_encoder\n"
        "print(create_encoder('conv4', input_shape=(1, 8, 8), channels=2)"
        ".eval()(torch.rand(1, 1, 8, 8)).shape[1])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "128", done.stderr[-500:]
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError, match=r"needs the transformers package.*'siamese\[hf\]'"):
        create_encoder("hf_vision", pretrained="/tmp/not-read")


def test_a_hub_name_is_fetched_without_pickles_and_its_failure_is_one_line(tmp_path, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants

    folder = tiny_model_folder(tmp_path, "vit")
    asked = {}

    def fake_download(repo_id, allow_patterns):  # what the hub would put in the cache
        asked.update(repo_id=repo_id, allow_patterns=allow_patterns)
        return str(folder)

    with monkeypatch.context() as m:
        m.setattr(huggingface_hub, "snapshot_download", fake_download)
        enc = _encoder("owner/tiny-vit", embedding_dim=4)
    assert asked["repo_id"] == "owner/tiny-vit" and enc.embedding_dim == 4
    assert not any(p.endswith((".bin", ".pt", ".pth")) for p in asked["allow_patterns"])
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network here
    with pytest.raises(ConfigError, match=r"'nobody/nothing': not a local folder, and fetching"):
        _encoder("nobody/nothing")


def test_a_vit_saved_without_its_pooler_asks_for_cls_or_mean(tmp_path):
    torch.manual_seed(0)
    no_pooler = tf.ViTModel(tiny_config_of("vit"), add_pooling_layer=False)
    no_pooler.save_pretrained(tmp_path / "vit")
    (tmp_path / "vit" / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR))
    with pytest.raises(ConfigError, match=r"pooler \('pooler.dense.*set model.pooling = 'cls' or"):
        _encoder(tmp_path / "vit")
    assert _encoder(tmp_path / "vit", pooling="cls").embedding_dim == 16
