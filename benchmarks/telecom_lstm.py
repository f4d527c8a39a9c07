"""The telecom Siamese LSTM, re-run: do normal, blocked and capacity-limited traffic move into
corners of a 3-D sigmoid cube, and does batch norm on the input layer give good training loss and
bad validation loss?

The seed (the telecom Siamese network behind "Lossless triplet loss", coffeeanddata.ca 2018):
an LSTM with a 3-D sigmoid output and triplet loss (squared euclidean, margin 0.4) on operator
traffic; good traffic and two error types separate into corners of the cube over training, shown
as a video; its author found batch normalisation on the input layer gave good training loss and
bad validation loss. No figures were published, only pictures.

Here: ``configs/telecom_lstm.toml`` (the same recipe ``siamese train -c`` runs) on the simulator's
patterns ``normal``, ``blocked`` and ``capacity_limit``; test = 100 fresh windows per pattern.
Every run saves each epoch's validation embeddings, so its report.html plays them in the 3-D view.
Measured, per epoch on the validation windows: each class's mean distance to its nearest cube
corner, the corner most of its windows are nearest to and that share, and the separation (Cohen's
d of different- vs same-class distances); after training, 1-NN accuracy of the test windows
against the training windows and 3-way 1-shot accuracy. Three variants over ``--seeds``:

* ``recipe``: the config as shipped (inputs log-scaled and z-scored with training statistics);
* ``input_bn``: the same with ``model.input_batch_norm = true``;
* ``input_bn_raw``: batch norm as the only input normalisation (``data.normalise = "none"``),
  as a Keras model with a BatchNormalization input layer on raw measurements would have it;
* ``lossless``: the recipe with the seed's own lossless triplet loss (``-ln`` of the distances
  against the cube's bounds: no margin, so easy triplets keep pulling towards the corners).

For the batch-norm variants the validation loss is also computed with the batch norm in training
mode (each batch's own statistics) beside eval mode (running statistics), on the same triplets,
and the running statistics are compared with the population statistics of the training inputs:
that separates "train vs eval statistics" from plain overfitting.

    python benchmarks/telecom_lstm.py            # 3 variants x 3 seeds (minutes)
    python benchmarks/telecom_lstm.py --quick    # tiny data and model, seconds (the test suite)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _recipe import save_record
from rich.console import Console

from siamese.evaluation.gallery_1nn import gallery_1nn_accuracy
from siamese.evaluation.separation import cohens_d
from siamese.pipeline import train_from_config
from siamese.reporting.run_folder import RunFolder
from siamese.training.config import apply_overrides, from_dict, read_config_file

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "telecom_lstm.toml"
VARIANTS = {
    "recipe": [],
    "input_bn": ["model.input_batch_norm=true"],
    "input_bn_raw": ["model.input_batch_norm=true", 'data.normalise="none"'],
    "lossless": ['objective.name="lossless_triplet"'],  # the seed's own proposed loss
}
DROPPED = {"lossless": ("margin", "distance")}  # [objective] keys the variant has no use for
QUICK_SET = [
    "data.n_per_pattern=16",
    "data.test_per_pattern=6",
    "data.length=24",
    "model.hidden_size=8",
    "model.dense=[8]",
    "training.epochs=3",
    "training.steps_per_epoch=4",
    "training.val_batches=2",
    "training.snapshot_items=30",
    "sampling.batch_size=16",
    "evaluation.episodes=30",
    "evaluation.pairs=60",
]
SEED_CLAIMS = {
    "corners": "normal, blocked and capacity-limited traffic move into corners of the cube "
    "(a video; no figure)",
    "input_bn": "batch norm on the input layer: good training loss, bad validation loss (no figure)",
    "loss": "triplet loss, squared euclidean distance, margin 0.4 (its published code)",
}
VAL_TRIPLET_BATCHES = 10  # validation batches of 64 triplets for the train/eval-mode comparison


def corner_stats(emb: np.ndarray, labels: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Per class: mean distance to the nearest cube corner, its most common nearest corner and
    the share of its points there; and Cohen's d of the euclidean distances (diff vs same).

    Args:
        emb: ``(n, 3)`` sigmoid embeddings in the unit cube.
        labels: ``(n,)`` class ids into ``names``.
    """
    corner = np.round(emb)  # (n, 3): the nearest corner of each point
    dist = np.linalg.norm(emb - corner, axis=1)  # (n,), 0 at a corner, sqrt(3)/2 at the centre
    code = (corner @ np.array([4, 2, 1])).astype(int)  # corner as a number 0..7
    per_class = {}
    for c in np.unique(labels):
        mine = labels == c
        counts = np.bincount(code[mine], minlength=8)
        top = int(counts.argmax())
        per_class[names[c]] = {
            "corner_distance": float(dist[mine].mean()),
            "corner": format(top, "03b"),
            "corner_share": float(counts[top] / mine.sum()),
        }
    d = np.linalg.norm(emb[:, None] - emb[None], axis=2)  # (n, n)
    same = labels[:, None] == labels[None]
    upper = np.triu(np.ones_like(same), k=1)
    corners = [v["corner"] for v in per_class.values()]
    return {
        "classes": per_class,
        "mean_corner_distance": float(dist.mean()),
        "distinct_corners": len(set(corners)) == len(corners),
        "cohens_d": cohens_d(d[same & upper], d[~same & upper]),
    }


def report_view(run_dir: Path) -> dict[str, Any]:
    """What the report's 3-D view holds: frames, axes and how they were made."""
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="v3d-data">(.*?)</script>', page, re.S)
    if m is None:
        return {"frames": 0, "axes": [], "method": "no 3-D view in the report"}
    view = json.loads(m.group(1))
    return {
        "frames": len(view["frames"]),
        "axes": view["axes"],
        "method": view["method"],
        "labels": [f["label"] for f in view["frames"]],
        "play_button": '<button type="button">play</button>' in page,
    }


def _val_triplets(labels: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, 3)`` random (anchor, positive, negative) indices, as the triplet sampler draws."""
    out = []
    classes = np.unique(labels)
    while len(out) < n:
        c = rng.choice(classes)
        own, other = np.flatnonzero(labels == c), np.flatnonzero(labels != c)
        if len(own) < 2:
            continue
        a, p = rng.choice(own, 2, replace=False)
        out.append((a, p, rng.choice(other)))
    return np.asarray(out)


def bn_modes(model: Any, splits: dict[str, Any], margin: float, seed: int) -> dict[str, Any]:
    """Validation triplet loss with the input batch norm in eval mode (running statistics) and in
    training mode (each batch's own statistics), on the same triplets; and how far the running
    statistics are from the training inputs' own (population) statistics."""
    val, train = splits["val"], splits["train"]
    rng = np.random.default_rng([seed, 91])
    x_val = torch.as_tensor(val.load(np.arange(len(val))))
    losses: dict[str, list[float]] = {"running": [], "batch": []}
    batch_model = copy.deepcopy(model).train()  # a copy: training mode updates running stats
    for _ in range(VAL_TRIPLET_BATCHES):
        t = _val_triplets(val.labels, rng, 64)
        items = torch.as_tensor(t.ravel())  # (192,): every triplet's 3 items, one forward
        with torch.no_grad():
            for mode, net in (("running", model.eval()), ("batch", batch_model)):
                e = net(x_val[items]).reshape(-1, 3, model.encoder.embedding_dim)  # (64, 3, D)
                d_ap = ((e[:, 0] - e[:, 1]) ** 2).sum(1)
                d_an = ((e[:, 0] - e[:, 2]) ** 2).sum(1)
                losses[mode].append(float(torch.relu(d_ap - d_an + margin).mean()))
    bn = model.encoder.input_bn
    with torch.no_grad():
        x = model.normaliser(torch.as_tensor(train.load(np.arange(len(train)))))  # (N, T, C)
        pop_mean, pop_std = x.mean((0, 1)), x.std((0, 1))  # (C,)
        batch_means = torch.stack(
            [x[torch.as_tensor(rng.choice(len(x), 192))].mean((0, 1)) for _ in range(20)]
        )  # (20, C): the means of training-sized batches
    return {
        "val_loss_running_stats": float(np.mean(losses["running"])),
        "val_loss_batch_stats": float(np.mean(losses["batch"])),
        # in population standard deviations, per channel
        "running_mean_offset": ((bn.running_mean - pop_mean).abs() / pop_std).tolist(),
        "running_std_ratio": (bn.running_var.sqrt() / pop_std).tolist(),
        "batch_mean_spread": (batch_means.std(0) / pop_std).tolist(),
    }


def one_run(variant: str, seed: int, args: argparse.Namespace, runs: Path) -> dict[str, Any]:
    """Train one variant with one seed; its curves, corners per epoch and final accuracies."""
    data = read_config_file(args.config)
    for key in DROPPED.get(variant, ()):
        data.get("objective", {}).pop(key, None)
    sets = [
        f'name="telecom-{variant}-s{seed}"',
        f'out_dir="{runs}"',
        f"seed={seed}",
        f"data.seed={seed}",
        "training.progress=false",
        f"training.threads={args.threads}",
        *(QUICK_SET if args.quick else []),
        *VARIANTS[variant],
        *args.set,
    ]
    cfg = from_dict(apply_overrides(data, sets))
    t0 = time.perf_counter()
    result = train_from_config(cfg, overwrite=True)
    seconds = time.perf_counter() - t0
    run = RunFolder.read(result.run_dir)
    names = run.class_names
    epochs = [
        {"epoch": e, **corner_stats(run.snapshots[e], np.asarray(run.snapshot_labels), names)}
        for e in sorted(run.snapshots)
    ]
    history = [
        {k: h.get(k) for k in ("epoch", "train_loss", "val_loss", "val_accuracy")}
        for h in result.history
    ]
    splits = result.splits
    nn1 = gallery_1nn_accuracy(result.model, [splits["train"], splits["val"]], splits["test"])
    last = history[-1]
    out = {
        "variant": variant,
        "seed": seed,
        "run_dir": str(result.run_dir),
        "history": history,
        "epochs": epochs,
        "final_train_loss": last["train_loss"],
        "final_val_loss": last["val_loss"],
        "min_val_loss": min(h["val_loss"] for h in history),
        "final_val_accuracy": last["val_accuracy"],
        "evaluated_epoch": run.evaluated_epoch,
        "test_1nn_accuracy": nn1["gallery_1nn_accuracy"],
        "test_1shot_accuracy": result.evaluation.get("accuracy"),
        "report_3d": report_view(result.run_dir),
        "seconds": round(seconds, 1),
    }
    if result.model.encoder.input_bn is not None:
        out["bn_modes"] = bn_modes(result.model, splits, float(cfg.objective.margin), seed)
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean (and range) over seeds of each variant's final figures."""
    keys = (
        "final_train_loss",
        "final_val_loss",
        "min_val_loss",
        "final_val_accuracy",
        "test_1nn_accuracy",
        "test_1shot_accuracy",
    )
    out: dict[str, dict[str, float]] = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        s: dict[str, Any] = {"seeds": len(mine)}
        for k in keys:
            v = np.array([r[k] for r in mine], dtype=float)
            s[k] = float(v.mean())
            s[k + "_range"] = [float(v.min()), float(v.max())]
        gap = np.array([r["final_val_loss"] - r["final_train_loss"] for r in mine])
        s["val_minus_train_loss"] = float(gap.mean())
        last = [r["epochs"][-1] for r in mine]
        s["final_corner_distance"] = float(np.mean([e["mean_corner_distance"] for e in last]))
        s["final_cohens_d"] = float(np.mean([e["cohens_d"] for e in last]))
        s["distinct_corners"] = sum(e["distinct_corners"] for e in last)
        if "bn_modes" in mine[0]:
            for k in ("val_loss_running_stats", "val_loss_batch_stats"):
                s[k] = float(np.mean([r["bn_modes"][k] for r in mine]))
        out[variant] = s
    return out


def print_results(res: dict[str, Any]) -> None:
    main = res["runs"][0]
    names = list(main["epochs"][0]["classes"])
    print(f"3-D sigmoid embedding over training ({main['variant']}, seed {main['seed']}):")
    print("epoch  " + "  ".join(f"{n[:14]:>24}" for n in names) + "  cohens_d  corners")
    for e in main["epochs"]:
        cells = [
            f"{c['corner_distance']:.3f} @{c['corner']} ({c['corner_share']:.0%})"
            for c in e["classes"].values()
        ]
        print(
            f"{e['epoch']:>5}  "
            + "  ".join(f"{c:>24}" for c in cells)
            + f"  {e['cohens_d']:8.2f}  {'distinct' if e['distinct_corners'] else 'shared'}"
        )
    print("(per class: mean distance to the nearest corner @ its most common corner (share))")
    v = main["report_3d"]
    print(f"report 3-D view: {v['frames']} frames, axes {v['axes']}, {v['method']}")
    print(f"\nvariants, mean over {len(res['seeds'])} seed(s) {res['seeds']}:")
    head = ("variant", "train loss", "val loss", "val-train", "val acc", "test 1-NN", "1-shot")
    print("  ".join(f"{h:>12}" for h in head) + "  val loss batch/running stats")
    for name, s in res["summary"].items():
        cells = [
            s["final_train_loss"],
            s["final_val_loss"],
            s["val_minus_train_loss"],
            s["final_val_accuracy"],
            s["test_1nn_accuracy"],
            s["test_1shot_accuracy"],
        ]
        modes = (
            f"  {s['val_loss_batch_stats']:.4f} / {s['val_loss_running_stats']:.4f}"
            if "val_loss_batch_stats" in s
            else ""
        )
        print(f"{name:>12}  " + "  ".join(f"{c:12.4f}" for c in cells) + modes)
    print(f"seed: {SEED_CLAIMS['corners']}; {SEED_CLAIMS['input_bn']}")
    print(f"wall time {res['wall_seconds']:.0f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny data and model (seconds)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="(default 0 1 2; quick: 0)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--config", default=str(CONFIG))
    p.add_argument("--set", action="append", default=[], help="config override key=value")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--out", default=None, help="JSON result file (default: benchmarks/results/)")
    p.add_argument("--runs-dir", default=None, help="where the run folders go (default: temp)")
    args = p.parse_args(argv)
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t0, load = time.perf_counter(), list(os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(args.runs_dir or tmp)
        rows = [one_run(v, s, args, runs) for v in args.variants for s in args.seeds]
    mode = "quick" if args.quick else "full"
    res = {
        "benchmark": "telecom_lstm",
        "command": " ".join(
            ["python", "benchmarks/telecom_lstm.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "mode": mode,
        "quick": args.quick,
        "load_average": [load, list(os.getloadavg())],  # 1/5/15-min, at the start and the end
        "config": str(args.config),
        "overrides": (QUICK_SET if args.quick else []) + args.set,
        "patterns": {
            "normal": "normal",
            "blocked": "blocked",
            "capacity-limited": "capacity_limit",
        },
        "seeds": args.seeds,
        "seed_claims": SEED_CLAIMS,
        "summary": summarise(rows),
        "runs": rows,
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    print_results(res)
    save_record(res, args.out, Console())
    return 0


if __name__ == "__main__":
    sys.exit(main())
