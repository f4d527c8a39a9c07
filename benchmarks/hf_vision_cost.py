"""What a pretrained Hugging Face backbone costs per item: the hf_vision encoder's forward pass.

Weights cannot be downloaded here, so this measures cost, not accuracy: each model is built
with RANDOM weights from a config of the published size (ViT-S/16, DINOv2-S/14, ConvNeXt-T),
saved with ``save_pretrained`` into a temporary folder with the image processor settings the
hub models ship, and loaded through ``create_encoder("hf_vision", ...)``, so the figures include
the encoder's own preprocessing and pooling. Random weights change no FLOP and no time.

For each model it prints the parameters, the forward FLOPs per item
(``torch.utils.flop_counter``: 2 per multiply-add; the attention products are counted as the
eager implementation computes them) and items/s under ``torch.inference_mode`` with
``--threads`` threads (default 1) at batch size ``--batch``, the median of ``--repeats`` timed
batches after a warm-up one. The load average before and after is printed with them: on a shared
machine the time is only as good as the cores were free.

    python benchmarks/hf_vision_cost.py            # the three published sizes (about a minute)
    python benchmarks/hf_vision_cost.py --quick    # tiny configs, seconds (run by the tests)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
#: name -> (transformers config class, its arguments, preprocessor_config.json, item side)
MODELS = {
    "vit-s16": (
        "ViTConfig",
        {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
         "intermediate_size": 1536, "image_size": 224, "patch_size": 16},
        {"size": {"height": 224, "width": 224}, "resample": 2, "image_mean": [0.5] * 3,
         "image_std": [0.5] * 3},
        224,
    ),
    "dinov2-s14": (
        "Dinov2Config",
        {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "mlp_ratio": 4,
         "image_size": 518, "patch_size": 14},
        {"size": {"shortest_edge": 256}, "do_center_crop": True,
         "crop_size": {"height": 224, "width": 224}, "resample": 3, **IMAGENET},
        256,
    ),
    "convnext-t": (
        "ConvNextConfig",
        {"hidden_sizes": [96, 192, 384, 768], "depths": [3, 3, 9, 3]},
        {"size": {"shortest_edge": 224}, "crop_pct": 0.875, "resample": 3, **IMAGENET},
        256,
    ),
}  # fmt: skip
QUICK = {
    "vit-tiny": (
        "ViTConfig",
        {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 32, "image_size": 32, "patch_size": 8},
        {"size": {"height": 32, "width": 32}, "resample": 2, "image_mean": [0.5] * 3,
         "image_std": [0.5] * 3},
        32,
    ),
}  # fmt: skip


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unavailable"


def measure(name, spec, folder: Path, batch: int, repeats: int) -> dict:
    import torch
    import transformers
    from torch.utils.flop_counter import FlopCounterMode

    from siamese.encoders import create_encoder

    cls_name, kwargs, pre, side = spec
    config = getattr(transformers, cls_name)(**kwargs)
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(config)
    transformers.utils.logging.disable_progress_bar()
    model.save_pretrained(folder / name)
    (folder / name / "preprocessor_config.json").write_text(json.dumps(pre))
    enc = create_encoder(
        "hf_vision", input_shape=(3, side, side), pretrained=str(folder / name), pooling="pooled"
    ).eval()
    x = torch.rand(batch, 3, side, side) * 255
    attention = getattr(enc.backbone.config, "_attn_implementation", None)
    with torch.inference_mode():
        if attention is not None:  # the counter does not see inside fused (sdpa) attention
            enc.backbone.set_attn_implementation("eager")
        counter = FlopCounterMode(display=False)
        with counter:
            enc(x[:1])
        flops = counter.get_total_flops()
        if attention is not None:
            enc.backbone.set_attn_implementation(attention)  # timed as it runs by default
        enc(x)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            enc(x)
            times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return {
        "model": name,
        "params_M": round(sum(p.numel() for p in enc.parameters()) / 1e6, 2),
        "input": f"{side}x{side}",
        "gflop_per_item": float(f"{flops / 1e9:.4g}"),
        "items_per_s": round(batch / seconds, 2),
        "ms_per_item": round(1000 * seconds / batch, 1),
        "embedding_dim": enc.embedding_dim,
        "attention_timed": attention,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny configs, seconds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    try:
        import transformers  # noqa: F401
    except ImportError:
        print("needs transformers: pip install 'siamese[hf]'", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    before = load_average()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in (QUICK if args.quick else MODELS).items():
            rows.append(measure(name, spec, Path(tmp), args.batch, args.repeats))
            print(json.dumps(rows[-1]), flush=True)
    after = load_average()
    summary = {
        "threads": args.threads,
        "batch": args.batch,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_average_before": before,
        "load_average_after": after,
        "cpus": os.cpu_count(),
        "weights": "random (cost only; no accuracy is measured)",
        "rows": rows,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
