"""Smaller, faster models: file size, latency and accuracy of each shipped recipe's model as a
float32 / fp16 / int8 ONNX export, pruned by 50% (structured, fine-tuned briefly), and pruned +
int8.

Recipes (each trained SHORT here: a few hundred steps at most, one thread, so the figures compare
formats of one model, not the recipes' benchmark accuracy):

* ``koch_lfw``: Koch et al.'s CNN (koch_cnn, 4096-d sigmoid embedding) with the pair head and
  BCE, on the LFW dev split (``configs/lfw.toml`` data: train.txt people train, test.txt people
  test), at 65x65 grayscale (the smallest input its 10/7/4/4 convolutions take; at Koch's
  105x105 one training step took 17 s on this machine, with the 38M-parameter dense layer) and
  with batch norm (``KOCH_SIZE``);
* ``conv4_omniglot``: ``configs/omniglot.toml`` (conv4 [64, 64, 128, 256]), embedding one view
  per image here (the recipe's 25 test-time views would multiply every evaluation by 25);
* ``lstm_demo``: the demo's LSTM on the traffic simulator (``siamese.demo.demo_config``);
* ``mlp_nslkdd``: ``configs/nsl_kdd.toml`` (MLP on NSL-KDD records).

For every variant: the ONNX file size (embedding + pair head), latency per item (batches of 1 and 16,
median of repeated runs after a warm-up, the variants taking turns within each repetition; ONNX
Runtime with 1 and 2 intra-op threads, as ``OnnxModel`` / ``siamese serve --model`` runs them), and the
run's own evaluation (``evaluate_model`` on the test split: one-shot accuracy, verification AUC
and accuracy) computed on the variant's embeddings; same-shape variants also get the cosine
similarity of their embeddings with the float32 library's. int8 is measured in both modes
(static, calibrated on training items; dynamic) for the convolutional recipes; the ``int8``
column is the mode ``--int8-mode auto`` picks (``siamese.compress.quantise.INT8_MODE``).

``--run RECIPE=DIR`` takes a run folder trained elsewhere for that recipe instead of training it
short here: e.g. the koch_cnn of ``benchmarks/koch_lfw.py`` (105x105, trained on LFW's listed
pairs). A run trained on a pair list (``sampling.kind = "pair_list"``) is also scored the way its
benchmark scores it (``koch_lfw.figures``): every variant's pair head on the listed test pairs, at
the threshold that is best on the variant's own held-out pairs; that figure is then the primary
one. ``--amount`` and ``--fine-tune-steps`` / ``--fine-tune-lr`` set the pruning.

    python benchmarks/compress.py            # all four recipes (about 30 minutes on 2 busy cores)
    python benchmarks/compress.py --quick    # a few steps each, small evaluations (the tests)
    python benchmarks/compress.py --recipes koch_lfw --run koch_lfw=runs/koch_lfw
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from siamese._io import atomic_write_json, atomic_write_text
from siamese.compress import OnnxModel
from siamese.compress.prune import check_amount
from siamese.compress.quantise import INT8_MODE
from siamese.errors import SiameseError
from siamese.evaluation.model_evaluation import evaluate_model, fixed_subset
from siamese.export import export_model
from siamese.model import SiameseModel
from siamese.pipeline import train_from_config
from siamese.pipeline.demo import demo_config
from siamese.pipeline.prune_run import prune_run
from siamese.training.config import from_dict, read_config_file
from siamese.training.splits import load_splits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from koch_lfw import figures as pair_list_figures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ("koch_lfw", "conv4_omniglot", "lstm_demo", "mlp_nslkdd")
COLUMNS = ("float32", "fp16", "int8", "pruned50", "pruned50_int8")  # "50": ``--amount`` in %
# steps of training (epochs x steps per epoch) and of fine-tuning after pruning
BUDGET = {
    "full": {
        "koch_lfw": (3, 50, 20),
        "conv4_omniglot": (4, 50, 100),
        "lstm_demo": (10, 40, 100),
        "mlp_nslkdd": (10, 50, 100),
    },
    "quick": {r: (1, 3, 2) for r in RECIPES},
}
PAIR_KEYS = ("pair_test_accuracy", "pair_test_auc", "pair_val_accuracy")  # ``listed_pairs``
KOCH_SIZE = 65  # koch_cnn's input side here (see the docstring)
PRIMARY = {  # the figure each recipe's benchmark reports
    "koch_lfw": "verification_accuracy",
    "conv4_omniglot": "accuracy",
    "lstm_demo": "accuracy",
    "mlp_nslkdd": "accuracy",
}


def recipe_config(name: str, data: Path, runs: Path, mode: str) -> dict[str, Any]:
    """The recipe's run config (plain data), trained for the mode's budget."""
    epochs, steps, _ = BUDGET[mode][name]
    if name == "lstm_demo":
        cfg = demo_config(name=name, out_dir=str(runs), quick=mode == "quick")
    else:
        file = {"koch_lfw": "lfw", "conv4_omniglot": "omniglot", "mlp_nslkdd": "nsl_kdd"}[name]
        cfg = read_config_file(ROOT / "configs" / f"{file}.toml")
        cfg.update(name=name, out_dir=str(runs))
        folder = {"lfw": "lfw", "omniglot": "omniglot", "nsl_kdd": "nsl-kdd"}[file]
        for key in ("path", "test_path"):
            if key in cfg["data"]:
                cfg["data"][key] = str(data / folder / Path(cfg["data"][key]).name)
        if file == "omniglot":
            cfg["data"]["path"] = str(data / "omniglot")
        if file == "lfw":
            cfg["data"]["path"] = str(data / "lfw")
    if name == "koch_lfw":  # Koch's network and objective on the LFW dev split
        cfg["data"].update(grayscale=True, size=KOCH_SIZE)
        cfg["data"]["augment"] = {"shift": 0.05, "flip": True}
        cfg["model"] = {"encoder": "koch_cnn", "embedding_dim": 4096, "batch_norm": True}
        cfg["objective"] = {"name": "koch_bce"}
        cfg["sampling"] = {"kind": "pairs", "batch_size": 16}
        cfg["mining"] = {"strategy": "none"}
        cfg["training"].update(learning_rate=3e-4)
    cfg["training"].update(
        epochs=epochs, steps_per_epoch=steps, threads=1, progress=False, early_stopping=False
    )
    cfg["training"]["snapshot_items"] = 0
    if cfg["training"].get("precision") == "bfloat16":
        from siamese.training.optim import cpu_bf16_units

        if not cpu_bf16_units():
            cfg["training"]["precision"] = "float32"
    ev = cfg.setdefault("evaluation", {})
    # one view per image: the recipe's 25 test-time views (test_time_shift = 2) would make every
    # evaluation here 25 times longer on 2 shared cores; latency with them is about 25x
    ev["test_time_shift"] = 0
    if mode == "quick":
        ev.update(episodes=50, pairs=200, val_episodes=20)
        cfg["training"]["val_batches"] = 2
    return cfg


def latencies(
    models: dict[str, OnnxModel], items: np.ndarray, lengths: Any, seconds: float, reps: int
) -> dict[str, float]:
    """Median seconds per call of each model on the same batch, after a warm-up; the models take
    turns within every repetition, so a change of the shared machine's load falls on all alike."""
    lens = None if lengths is None else np.asarray(lengths)
    for model in models.values():
        for _ in range(3):
            model.embed(items, lens)
    times: dict[str, list[float]] = {k: [] for k in models}
    t_end = time.perf_counter() + seconds * len(models)
    while len(times[next(iter(models))]) < reps and (
        len(times[next(iter(models))]) < 5 or time.perf_counter() < t_end
    ):
        for name, model in models.items():
            t0 = time.perf_counter()
            model.embed(items, lens)
            times[name].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def file_bytes(report: dict[str, Any]) -> int:
    head = report.get("head_path")
    return Path(report["path"]).stat().st_size + (Path(head).stat().st_size if head else 0)


def measure_variant(
    name: str,
    export: dict[str, Any],
    parts: dict[str, Any],
    cfg: Any,
    reference: np.ndarray | None,
    args: argparse.Namespace,
    pair_splits: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """Size and the run's evaluation of one exported variant (latency: ``measure_latency``);
    ``pair_splits``: a pair-list run's ``(dataset, parts)`` (``listed_pairs``)."""
    test = parts["test"]
    sub = test.subset(fixed_subset(len(test), args.items, cfg.seed))
    row: dict[str, Any] = {"variant": name, "bytes": file_bytes(export), "path": export["path"]}
    row["int8_mode"] = export.get("int8_mode")
    model = OnnxModel(export["path"], threads=1)
    ev = cfg.evaluation
    res = evaluate_model(
        model, test, val=parts.get("val"), n_way=ev.n_way, k_shot=ev.k_shot,
        episodes=ev.episodes, pairs=ev.pairs, seed=cfg.seed, max_items=args.items,
    )  # fmt: skip
    row.update({k: res.get(k) for k in ("accuracy", "auc", "verification_accuracy", "n_way")})
    row.update(listed_pairs(model, cfg, pair_splits))
    if reference is not None:
        emb = model.embed_dataset(sub)
        if emb.shape == reference.shape:
            cos = (emb * reference).sum(1) / np.maximum(
                np.linalg.norm(emb, axis=1) * np.linalg.norm(reference, axis=1), 1e-12
            )
            row["cosine_mean"], row["cosine_min"] = float(cos.mean()), float(cos.min())
    return row


def listed_pairs(model: Any, cfg: Any, splits: tuple[Any, Any] | None) -> dict[str, float]:
    """For a run trained on a pair list: its benchmark's figures on the listed test pairs (the
    pair head's accuracy at the held-out pairs' best threshold, AUC; ``koch_lfw.figures`` on
    ``splits``, the run's ``(dataset, parts)`` read once for every variant)."""
    if cfg.sampling.kind != "pair_list":
        return {}
    f = pair_list_figures(model, cfg, False, splits)
    return {
        "pair_test_accuracy": f["test"]["accuracy_at_val_threshold"],
        "pair_test_auc": f["test"]["auc"],
        "pair_val_accuracy": f["val"]["accuracy_at_val_threshold"],
    }


def trained_run(name: str, args: argparse.Namespace, work: Path, console: Console) -> tuple:
    """``(run folder, RunConfig, splits, seconds)``: the recipe trained short here, or the run
    given with ``--run`` (seconds None)."""
    given = args.runs.get(name)
    if given is None:
        cfg = from_dict(recipe_config(name, Path(args.data), work / "runs", args.mode))
        t0 = time.perf_counter()
        result = train_from_config(cfg, report=False)
        train_s = time.perf_counter() - t0
        console.print(f"{name}: trained in {train_s:.0f} s ({result.run_dir})")
        return result.run_dir, cfg, result.splits, train_s
    raw = json.loads((given / "config.json").read_text())
    raw["name"], raw["out_dir"] = given.name, str(given.parent)
    cfg = from_dict(raw)
    _, parts, _ = load_splits(cfg)
    console.print(f"{name}: the run {given} (trained elsewhere)")
    return given, cfg, parts, None


def measure_latency(rows: list[dict[str, Any]], test: Any, args: argparse.Namespace) -> list:
    """Latency per item of every variant (``rows``), for each batch size and thread count, the
    variants taking turns (``latencies``); the load average before each setting. Fills
    ``latency_ms_{threads}t`` (batch of one) and ``latency_ms_{threads}t_b{batch}`` in the rows
    and returns ``[{"threads", "batch", "load_average"}, ...]``."""
    settings = []
    n = min(max(args.batches), len(test))
    items = test.load(np.arange(n)).astype(np.float32)  # (n, *item_shape)
    lengths = None if test.lengths is None else np.asarray(test.lengths)[:n]
    for threads in (1, 2):
        models = {r["variant"]: OnnxModel(r["path"], threads=threads) for r in rows}
        for batch in args.batches:
            load = [round(x, 2) for x in os.getloadavg()]
            lens = None if lengths is None else lengths[:batch]
            med = latencies(models, items[:batch], lens, args.seconds, 200)
            key = f"latency_ms_{threads}t" + ("" if batch == 1 else f"_b{batch}")
            for r in rows:
                r[key] = 1000 * med[r["variant"]] / len(items[:batch])
            settings.append({"threads": threads, "batch": batch, "load_average": load})
    return settings


def run_recipe(name: str, args: argparse.Namespace, work: Path, console: Console) -> dict:
    run, cfg, parts, train_s = trained_run(name, args, work, console)
    steps = args.fine_tune_steps
    steps = BUDGET[args.mode][name][2] if steps is None else steps
    library = SiameseModel.load(run)
    library.eval()
    test = parts["test"]
    sub = test.subset(fixed_subset(len(test), args.items, cfg.seed))
    reference = library.embed_dataset(sub)
    ev = cfg.evaluation
    lib_eval = evaluate_model(
        library, test, val=parts.get("val"), n_way=ev.n_way, k_shot=ev.k_shot,
        episodes=ev.episodes, pairs=ev.pairs, seed=cfg.seed, max_items=args.items,
    )  # fmt: skip
    # a pair-list run's images and pair lists, read once for the library and every variant
    pair_splits = load_splits(cfg)[:2] if cfg.sampling.kind == "pair_list" else None
    lib_eval.update(listed_pairs(library, cfg, pair_splits))
    exports = work / "exports" / name
    exports.mkdir(parents=True, exist_ok=True)
    rows = []

    def add(variant: str, source: Path, precision: str, int8_mode: str = "auto") -> None:
        out = exports / f"{variant}.onnx"
        rep = export_model(
            source, "onnx", out, precision=precision, int8_mode=int8_mode, check=False
        )
        ref = reference if "pruned" not in variant else None
        rows.append(measure_variant(variant, rep, parts, cfg, ref, args, pair_splits))
        console.print(f"  {variant}: {rows[-1]}")

    add("float32", run, "float32")
    add("fp16", run, "fp16")
    encoder = cfg.model.encoder
    auto = INT8_MODE.get(encoder, "dynamic")
    add("int8", run, "int8", auto)
    if encoder in ("conv4", "koch_cnn"):  # both int8 modes measured on the convolutional recipes
        other = "dynamic" if auto == "static" else "static"
        add(f"int8_{other}", run, "int8", other)
    pruned = work / "runs" / f"{name}-pruned{round(100 * args.amount)}"
    shutil.rmtree(pruned, ignore_errors=True)
    t0 = time.perf_counter()
    pr = prune_run(
        run, pruned, args.amount, fine_tune_steps=steps, fine_tune_lr=args.fine_tune_lr,
        report=False,
    )  # fmt: skip
    prune_s = time.perf_counter() - t0
    pct = round(100 * args.amount)
    add(f"pruned{pct}", pruned, "float32")
    add(f"pruned{pct}_int8", pruned, "int8", auto)
    settings = measure_latency(rows, parts["test"], args)
    for r in rows:
        r.pop("path")
        console.print(f"  {r['variant']}: " + ", ".join(
            f"{k} {v:.3f}" for k, v in r.items() if k.startswith("latency")
        ))  # fmt: skip
    pair_list = cfg.sampling.kind == "pair_list"
    return {
        "recipe": name,
        "encoder": encoder,
        "run": str(run) if name in args.runs else None,
        "train_steps": cfg.training.epochs * cfg.training.steps_per_epoch,
        "train_seconds": None if train_s is None else round(train_s, 1),
        "amount": args.amount,
        "fine_tune_steps": steps,
        "fine_tune": pr.get("fine_tune"),
        "prune_seconds": round(prune_s, 1),
        "parameters": pr["parameters_before"],
        "parameters_pruned": pr["parameters_after"],
        "safetensors_bytes": pr["bytes_before"],
        "safetensors_bytes_pruned": pr["bytes_after"],
        "pruned_args": pr["args_after"],
        "primary": "pair_test_accuracy" if pair_list else PRIMARY[name],
        "test_items": int(len(sub)),
        "library": {
            k: lib_eval.get(k)
            for k in ("accuracy", "auc", "verification_accuracy", *PAIR_KEYS)
            if k in lib_eval
        },
        "latency_settings": settings,
        "variants": rows,
    }


def targets(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by = {r["recipe"]: r for r in results}
    if "koch_lfw" in by:
        r = by["koch_lfw"]
        v = {x["variant"]: x for x in r["variants"]}
        both = v[f"pruned{round(100 * r['amount'])}_int8"]  # pruned + int8
        ratio = v["float32"]["bytes"] / both["bytes"]
        key = r["primary"]
        loss = 100 * (r["library"][key] - both[key])
        out["koch_size_ratio"] = round(ratio, 2)
        out["koch_accuracy_loss_points"] = round(loss, 2)
        out["koch_met"] = bool(ratio >= 8 and loss <= 1)
    if "conv4_omniglot" in by:
        v = {x["variant"]: x for x in by["conv4_omniglot"]["variants"]}
        keys = [k for k in v["float32"] if k.startswith("latency_ms_")]
        for k in keys:  # latency_ms_1t, latency_ms_2t_b16, ...
            speed = v["float32"][k] / v["int8"][k]
            out[f"conv4_int8_speedup_{k[len('latency_ms_') :]}"] = round(speed, 2)
        out["conv4_met"] = bool(min(out[k] for k in out if k.startswith("conv4_int8")) >= 2)
    return out


def markdown(payload: dict[str, Any]) -> str:
    lines = [
        "# Compression: float32 / fp16 / int8 / pruned / pruned + int8",
        "",
        f"Command: `{payload['command']}` ({payload['mode']}); wall {payload['wall_seconds']} s; "
        f"load average {payload['load_average_start']} at the start, "
        f"{payload['load_average_end']} at the end, on {payload['cpus']} CPUs (shared machine).",
        "",
        "Every model not given with `--run` was trained SHORT (steps below, one thread): the "
        "figures compare the formats of one model, not the recipes' benchmark accuracy. Latency: per item, at each batch size, "
        "median of repetitions after a warm-up, the variants taking turns, ONNX Runtime on the CPU. Accuracy: the run's own evaluation on its test split "
        "(`evaluate_model`) on each variant's embeddings.",
        "",
    ]
    for r in payload["results"]:
        where = f"the run {r['run']}" if r.get("run") else f"{r['train_steps']} training steps"
        lines += [
            f"## {r['recipe']} ({r['encoder']}, {where}; pruned {round(100 * r['amount'])}%, "
            f"{r['fine_tune_steps']} fine-tuning steps after pruning)",
            "",
            f"Parameters {r['parameters']:,} -> {r['parameters_pruned']:,} pruned "
            f"({r['pruned_args']}); model.safetensors {r['safetensors_bytes']:,} -> "
            f"{r['safetensors_bytes_pruned']:,} bytes. Library (torch, float32) on "
            f"{r['test_items']} test items: "
            + ", ".join(f"{k} {v:.4f}" for k, v in r["library"].items() if v is not None)
            + f". Primary figure: {r['primary']}.",
            "",
            "Latency (ms per item; the variants take turns in every repetition), load average "
            "before each setting: "
            + "; ".join(
                f"{x['threads']} thread(s) batch {x['batch']}: {x['load_average']}"
                for x in r["latency_settings"]
            )
            + ".",
            "",
        ]
        lat = [k for k in r["variants"][0] if k.startswith("latency_ms_")]
        pairs = [k for k in PAIR_KEYS if k in r["variants"][0]]

        def head(k: str) -> str:
            t, _, b = k[len("latency_ms_") :].partition("_b")
            return f"ms/item {t[:-1]} thr. batch {b or 1}"

        lines += [
            "| variant | int8 mode | file bytes | "
            + " | ".join(head(k) for k in lat)
            + " | accuracy | verification acc. | AUC | "
            + "".join(f"{k.replace('_', ' ')} | " for k in pairs)
            + "cosine mean / min vs library |",
            "|---|---|---|" + "---|" * (len(lat) + len(pairs)) + "---|---|---|---|",
        ]
        for v in r["variants"]:

            def f(k: str, v: dict = v) -> str:
                x = v.get(k)
                return "-" if x is None else f"{x:.4f}"

            cos = (
                "-" if "cosine_mean" not in v else f"{v['cosine_mean']:.5f} / {v['cosine_min']:.5f}"
            )
            lines.append(
                f"| {v['variant']} | {v['int8_mode'] or '-'} | {v['bytes']:,} | "
                + " | ".join(f"{v[k]:.3f}" for k in lat)
                + f" | {f('accuracy')} | {f('verification_accuracy')} | {f('auc')} | "
                + "".join(f"{f(k)} | " for k in pairs)
                + f"{cos} |"
            )
        lines.append("")
    lines += ["## Targets", "", "```", json.dumps(payload["targets"], indent=2), "```", ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few steps per recipe (the tests)")
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--items", type=int, default=None, help="test items evaluated (300; quick 50)")
    p.add_argument("--seconds", type=float, default=None, help="latency: seconds per variant")
    p.add_argument(
        "--batches", type=int, nargs="+", default=None, help="latency batch sizes (1 16; quick 1)"
    )
    p.add_argument("--out-dir", default=None, help="where compress.json/.md go")
    p.add_argument("--work", default=None, help="runs and exports (default: a temporary folder)")
    p.add_argument(
        "--run", dest="runs", action="append", default=[], metavar="RECIPE=DIR",
        help="a run folder trained elsewhere for RECIPE, instead of training it short here",
    )  # fmt: skip
    p.add_argument("--amount", type=float, default=0.5, help="pruned fraction (0.5)")
    p.add_argument("--fine-tune-steps", type=int, default=None, help="after pruning (per recipe)")
    p.add_argument("--fine-tune-lr", type=float, default=None, help="(a tenth of the run's)")
    args = p.parse_args(argv)
    args.mode = "quick" if args.quick else "full"
    try:
        args.amount = check_amount(args.amount)
    except SiameseError as exc:
        p.error(str(exc))
    if args.fine_tune_steps is not None and args.fine_tune_steps < 0:
        p.error(f"--fine-tune-steps: expected 0 or more steps, got {args.fine_tune_steps}")
    if args.fine_tune_lr is not None and not args.fine_tune_lr > 0:
        p.error(f"--fine-tune-lr: expected a positive learning rate, got {args.fine_tune_lr}")
    runs = {}
    for spec in args.runs:
        name, eq, folder = spec.partition("=")
        if not eq or name not in RECIPES:
            p.error(f"--run {spec!r}: expected RECIPE=DIR with RECIPE one of {', '.join(RECIPES)}")
        if not (Path(folder) / "config.json").is_file():
            p.error(
                f"--run {spec!r}: {folder} is not a run folder (no config.json); pass a folder "
                "written by `siamese train`"
            )
        try:  # a corrupt or foreign config.json: one line now, before any work
            from_dict(json.loads((Path(folder) / "config.json").read_text()))
        except (ValueError, SiameseError) as exc:
            p.error(
                f"--run {spec!r}: {Path(folder) / 'config.json'} is not a readable run config ({exc})"
            )
        runs[name] = Path(folder)
    args.runs = runs
    args.items = args.items or (50 if args.quick else 300)
    args.seconds = args.seconds or (0.3 if args.quick else 2.0)
    args.batches = args.batches or ([1] if args.quick else [1, 16])
    if min(args.batches) < 1:
        p.error(f"--batches: expected positive batch sizes, got {args.batches}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=160)
    torch.set_num_threads(1)
    load_start = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="siamese-compress-") as tmp:
        work = Path(args.work or tmp)
        results = [run_recipe(name, args, work, console) for name in args.recipes]
    wall = time.perf_counter() - t0
    cmd = ["python", "benchmarks/compress.py", *(argv if argv is not None else sys.argv[1:])]
    payload = {
        "benchmark": "compress",
        "command": " ".join(cmd),
        "mode": "quick" if args.quick else "full",
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "wall_seconds": round(wall, 1),
        "results": results,
        "targets": targets(results),
    }
    for r in results:
        table = Table(title=f"{r['recipe']} ({r['encoder']})")
        for col in ("variant", "bytes", "ms 1t", "ms 2t", r["primary"], "cosine mean"):
            table.add_column(col)
        for v in r["variants"]:
            prim = v.get(r["primary"])
            table.add_row(
                v["variant"], f"{v['bytes']:,}", f"{v['latency_ms_1t']:.3f}",
                f"{v['latency_ms_2t']:.3f}", "-" if prim is None else f"{prim:.4f}",
                f"{v['cosine_mean']:.5f}" if "cosine_mean" in v else "-",
            )  # fmt: skip
        console.print(table)
    console.print(f"targets: {payload['targets']}")
    console.print(f"load average {payload['load_average_start']} -> {payload['load_average_end']}")
    default = ROOT / "benchmarks" / "results" if not args.quick else Path(tempfile.gettempdir())
    out_dir = Path(args.out_dir or default)
    atomic_write_json(out_dir / "compress.json", payload)
    atomic_write_text(out_dir / "compress.md", markdown(payload))
    console.print(f"results: {out_dir / 'compress.json'}, {out_dir / 'compress.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
