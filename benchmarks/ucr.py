"""UCR/UEA time series: does a Siamese embedding beat 1-NN DTW on the archive's TRAIN/TEST split?

For each problem in ``../shared/data/ucr``: train ``configs/ucr.toml`` (the same recipe that
``siamese train -c configs/ucr.toml`` runs; only ``data.path`` and ``name`` change) on TRAIN, then
on TEST:

* **1-NN in the embedding**: each TEST series labelled by its nearest TRAIN series (the gallery);
* **N-way 1-shot episodes** on TEST (N = the problem's classes, one support and one query per
  class), the same episodes for the embedding and for the raw series;
* **1-NN euclidean** on the raw series, z-normalised per series and dimension (the UCR habit;
  variable-length series zero-padded after normalising), computed in this run;
* **1-NN DTW** (full warping, window none) on the same per-series z-normalised series, computed
  here with dtaidistance's C implementation (dependent multivariate DTW: squared euclidean cost
  over the dimensions at each step) for every problem whose DTW matrix fits ``DTW_BUDGET`` cells
  (all eight; PLAID takes about 150 s on 2 cores). It is the reference; the published figure from
  ``../shared/data/README.md`` is shown beside it. Results are cached on disk
  (``~/.cache/siamese/ucr_dtw``) by a hash of the series, so a second run reads them back.

``--select`` never reads TEST: it trains on three quarters of TRAIN and reports 1-NN accuracy on
the held-out quarter (class-stratified; it depends on the seed), against 1-NN DTW on the same
quarter, over ``--seeds``. The criterion is aggregate over problems: the worst problem's margin
over DTW (each problem's margin averaged over the seeds). Every screen is filed under
``--candidate`` in ``benchmarks/results/ucr_select.json``. With ``--folds K`` it trains K times per
problem and seed, holding out each of K class-stratified folds of TRAIN once (``data.val_fold``),
and pools the K folds' 1-NN answers: every TRAIN series is scored once, by a model that did not
train on it, so the screen rests on all of TRAIN instead of one quarter (K times the cost).

    python benchmarks/ucr.py                    # all 8 problems
    python benchmarks/ucr.py --quick            # GunPoint + ItalyPowerDemand, a few steps
    python benchmarks/ucr.py --select --seeds 0,1 --candidate NAME --set KEY=VALUE  # on TRAIN only
    python benchmarks/ucr.py --select --folds 4 --seeds 0,1 --candidate NAME     # 4-fold over TRAIN
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from siamese.evaluation.one_shot import n_way_k_shot_accuracy
from siamese.objectives.distances import get_distance
from siamese.training import load_config
from siamese.training.run import train_run

ROOT = Path(__file__).resolve().parents[1]
DATASETS = (
    "GunPoint",
    "ArrowHead",
    "ItalyPowerDemand",
    "OSULeaf",
    "ACSF1",
    "BasicMotions",
    "JapaneseVowels",
    "PLAID",
)
QUICK_DATASETS = ("GunPoint", "ItalyPowerDemand")
PUBLISHED_DTW = {  # ../shared/data/README.md: 1-NN DTW, full warping
    "GunPoint": 0.907,
    "ArrowHead": 0.703,
    "ItalyPowerDemand": 0.950,
    "OSULeaf": 0.591,
    "ACSF1": 0.64,
    # PLAID: the README's dtaidistance figure on per-series z-normalised series, full warping
    # (153 s on 2 cores; the UCR summary's 0.836 is on the unnormalised series)
    "PLAID": 0.804,
}
DTW_BUDGET = (
    5e10  # compute DTW when sum(T_test) x sum(T_train) cells stay below this (PLAID 3.1e10)
)
QUICK_SET = [
    "training.epochs=2",
    "training.steps_per_epoch=5",
    "evaluation.episodes=50",
    "evaluation.pairs=200",
]
EPISODES = 1000


def znorm(items: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Z-normalise every series per dimension over its valid steps; padding stays 0.

    Args:
        items: ``(N, T, F)`` series, zero-padded at the end.
        lengths: ``(N,)`` true lengths, or None when all are ``T`` long.

    Returns:
        ``(N, T, F)`` float64.
    """
    n, t, _ = items.shape
    lens = np.full(n, t) if lengths is None else lengths
    mask = (np.arange(t)[None, :] < lens[:, None])[..., None]  # (N, T, 1)
    x = items.astype(np.float64)
    mean = (x * mask).sum(1, keepdims=True) / lens[:, None, None]  # (N, 1, F)
    std = np.sqrt((((x - mean) * mask) ** 2).sum(1, keepdims=True) / lens[:, None, None])
    return np.where(mask, (x - mean) / np.where(std > 1e-8, std, 1.0), 0.0)


def dtw_matrix(queries: list[np.ndarray], gallery: list[np.ndarray]) -> np.ndarray:
    """Full-warping DTW from every query to every gallery series, in dtaidistance's C code.

    Multivariate series use dependent DTW (squared euclidean cost over the dimensions at each
    step). Series may have different lengths (pass them unpadded).

    Args:
        queries: ``Q`` arrays ``(T_q, F)``; gallery: ``N`` arrays ``(T_n, F)``.

    Returns:
        ``(Q, N)``: the square root of the accumulated squared cost of the best warping path
        (dtaidistance's convention; the same nearest neighbours as the plain sum).
    """
    from dtaidistance import dtw, dtw_ndim

    multi = queries[0].shape[1] > 1
    series = [np.ascontiguousarray(x if multi else x[:, 0], dtype=np.float64) for x in queries]
    series += [np.ascontiguousarray(x if multi else x[:, 0], dtype=np.float64) for x in gallery]
    q, n = len(queries), len(gallery)
    block = ((0, q), (q, q + n))  # queries x gallery only
    if multi:
        full = dtw_ndim.distance_matrix_fast(series, block=block, parallel=True)
    else:
        full = dtw.distance_matrix_fast(series, block=block, parallel=True)
    return np.asarray(full)[:q, q:]  # (Q, N)


def _unpadded(x: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    return [x[i, : int(t)] for i, t in enumerate(lengths)]


def _lengths(part: Any) -> np.ndarray:
    return part.lengths if part.lengths is not None else np.full(len(part), part.item_shape[0])


def dtw_cells(tr: Any, te: Any) -> int:
    """Cells of the DTW matrices of TEST x TRAIN under full warping: sum(T_q) x sum(T_n)."""
    return int(_lengths(te).sum()) * int(_lengths(tr).sum())


def cached_dtw(xte: np.ndarray, lte: np.ndarray, xtr: np.ndarray, ltr: np.ndarray) -> np.ndarray:
    """``dtw_matrix`` on the unpadded series, cached on disk by a hash of the inputs."""
    h = hashlib.sha1()
    for a in (xte, lte, xtr, ltr):
        h.update(np.ascontiguousarray(a).tobytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "siamese" / "ucr_dtw"
    path = cache / f"{h.hexdigest()}.npy"
    if path.is_file():
        return np.load(path)
    d = dtw_matrix(_unpadded(xte, lte), _unpadded(xtr, ltr))
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, d)
    os.replace(tmp, path)  # never a half-written cache file
    return d


def one_nn(dist: np.ndarray, gallery_labels: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of labelling each row by its nearest gallery column."""
    return float((gallery_labels[dist.argmin(1)] == labels).mean())


def raw_baselines(tr: Any, te: Any, seed: int, n_way: int, dtw: bool) -> dict[str, Any]:
    """1-NN euclidean, N-way 1-shot episodes and (if asked) 1-NN DTW on z-normalised raw series."""
    xtr = znorm(tr.load(np.arange(len(tr))), tr.lengths)  # (N, T, F)
    xte = znorm(te.load(np.arange(len(te))), te.lengths)
    flat_tr, flat_te = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    d = ((flat_te**2).sum(1)[:, None] + (flat_tr**2).sum(1)[None, :]) - 2 * flat_te @ flat_tr.T
    out: dict[str, Any] = {"raw_1nn_euclidean": one_nn(d, tr.labels, te.labels)}
    episodes = n_way_k_shot_accuracy(
        flat_te.astype(np.float32), te.labels, n_way=n_way, k_shot=1, episodes=EPISODES, seed=seed
    )
    out["raw_1shot"] = episodes.accuracy
    out["dtw_cells"] = dtw_cells(tr, te)
    if dtw:
        t0 = time.perf_counter()
        dd = cached_dtw(xte, _lengths(te), xtr, _lengths(tr))
        out["dtw_1nn_computed"] = one_nn(dd, tr.labels, te.labels)
        out["dtw_seconds"] = round(time.perf_counter() - t0, 1)  # ~0 when read from the cache
    return out


def run_problem(
    name: str,
    seed: int,
    args: argparse.Namespace,
    runs_dir: Path,
    console: Console,
    fold: int | None = None,
) -> dict[str, Any]:
    """Train the recipe on one problem and evaluate it (or, with --select, on held-out TRAIN:
    a stratified quarter, or fold ``fold`` of ``args.folds``)."""
    path = Path(args.data) / name
    overrides = [
        f'data.path="{path}"',
        f'name="ucr-{name}-{seed}' + ("" if fold is None else f"-fold{fold}") + '"',
        f'out_dir="{runs_dir}"',
        f"seed={seed}",
        "training.progress=false",
    ]
    if args.select:  # TEST is not even read: part of TRAIN is the gallery's test
        share = 0.25 if fold is None else 1.0 / args.folds
        overrides += [
            'data.parts=["train"]',
            f"data.val_fraction={share}",
            'data.val_split="items"',
        ]
        overrides += [] if fold is None else [f"data.val_fold={fold}"]
    overrides += (QUICK_SET if args.quick else []) + list(args.set)
    cfg = load_config(args.config, overrides)
    t0 = time.perf_counter()
    # train_run, not train_from_config: a run that ends collapsed is a row here (its final
    # state says so), not an error that would lose the other problems' rows
    result = train_run(cfg, overwrite=True, progress_override=False)
    train_s = time.perf_counter() - t0
    torch.set_num_threads(1)  # small matrices: one thread is faster (and far faster on a busy box)
    model = result.model
    tr = result.splits["train"]
    te = result.splits["val" if args.select else "test"]
    n_way = len(np.unique(te.labels))
    emb_tr = torch.as_tensor(model.embed_dataset(tr))
    emb_te = torch.as_tensor(model.embed_dataset(te))
    dist = get_distance(model.distance).matrix(emb_te, emb_tr).numpy()  # (Q, N)
    shot = n_way_k_shot_accuracy(
        emb_te.numpy(), te.labels, n_way=n_way, k_shot=1, episodes=EPISODES,
        distance=model.distance, seed=seed,
    )  # fmt: skip
    dtw = not args.quick and dtw_cells(tr, te) <= args.dtw_budget  # one budget, every problem
    training = result.model.info["training"]
    row = {
        "dataset": name,
        "seed": seed,
        **({} if fold is None else {"fold": fold}),
        "train_items": len(tr),
        "test_items": len(te),
        "classes": n_way,
        "embedding_1nn": one_nn(dist, tr.labels, te.labels),
        "embedding_1shot": shot.accuracy,
        "dtw_1nn_published": None if args.select else PUBLISHED_DTW.get(name),
        **raw_baselines(tr, te, seed, n_way, dtw),
        "train_seconds": round(train_s, 1),
        "epochs_run": training.get("epochs_run"),
        "collapse": any(bool(r.get("collapse")) for r in result.history),  # the trainer's flag
        "final_state": training["collapse"]["state"],  # "collapsed": `siamese train` exits 1
        "train_d_pos": result.history[-1].get("train_d_pos"),
        "train_d_neg": result.history[-1].get("train_d_neg"),
    }
    # The reference is the DTW computed here (the same z-normalised series) where the budget
    # allows, else the published figure; over budget without one, there is no reference.
    with_reference(row)
    where = f"seed {seed}" + ("" if fold is None else f" fold {fold}")
    console.print(
        f"{name} {where}: 1-NN {row['embedding_1nn']:.3f} (DTW {_fmt(row['dtw_1nn'])}), "
        f"{train_s:.0f} s"
    )
    return row


def with_reference(row: dict[str, Any]) -> dict[str, Any]:
    """The row's DTW reference and the embedding's margin over it (in place)."""
    ref = row.get("dtw_1nn_computed", row["dtw_1nn_published"])
    row["dtw_1nn"] = ref
    row["margin_over_dtw"] = None if ref is None else round(row["embedding_1nn"] - ref, 4)
    row["beats_dtw"] = None if ref is None else bool(row["embedding_1nn"] > ref)
    return row


POOLED = ("embedding_1nn", "raw_1nn_euclidean", "dtw_1nn_computed")  # shares of test_items
AVERAGED = ("embedding_1shot", "raw_1shot")  # episode accuracies: the folds' mean


def pool_folds(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One problem and seed from its folds: each 1-NN figure over all held-out series of all
    folds (every TRAIN series once), episode accuracies averaged, times summed."""
    n = sum(r["test_items"] for r in rows)
    out: dict[str, Any] = {
        "dataset": rows[0]["dataset"],
        "seed": rows[0]["seed"],
        "folds": len(rows),
        "train_items": rows[0]["train_items"] + rows[0]["test_items"],
        "test_items": n,
        "classes": max(r["classes"] for r in rows),
        "dtw_1nn_published": None,
        "train_seconds": round(sum(r["train_seconds"] for r in rows), 1),
        "collapse": any(r["collapse"] for r in rows),
        "per_fold": [
            {
                k: r.get(k)
                for k in (
                    "fold",
                    "test_items",
                    "embedding_1nn",
                    "dtw_1nn_computed",
                    "collapse",
                    "final_state",
                )
            }
            for r in rows
        ],
    }
    for key in POOLED:
        if all(key in r for r in rows):
            correct = sum(round(r[key] * r["test_items"]) for r in rows)
            out[key] = round(correct / n, 4)
    for key in AVERAGED:
        out[key] = round(float(np.mean([r[key] for r in rows])), 4)
    return with_reference(out)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The selection criterion, aggregate over problems: per problem the mean over seeds of the
    embedding's margin over 1-NN DTW, then the worst problem's margin (and the mean, and wins)."""
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    per: dict[str, Any] = {}
    for n in names:
        mine = [r for r in rows if r["dataset"] == n]
        margins = [r["margin_over_dtw"] for r in mine if r["margin_over_dtw"] is not None]
        per[n] = {
            "embedding_1nn_mean": round(float(np.mean([r["embedding_1nn"] for r in mine])), 4),
            "dtw_1nn_mean": _mean([r["dtw_1nn"] for r in mine if r["dtw_1nn"] is not None]),
            "margin_mean": _mean(margins),
            "seeds": [r["seed"] for r in mine],
        }
    margins = [v["margin_mean"] for v in per.values() if v["margin_mean"] is not None]
    return {
        "per_dataset": per,
        "worst_margin": min(margins) if margins else None,
        "mean_margin": _mean(margins),
        "beats_dtw_rows": sum(bool(r.get("beats_dtw")) for r in rows),
        "rows": len(rows),
    }


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def print_table(rows: list[dict[str, Any]], wall: float, console: Console, select: bool) -> None:
    """One table: every figure per problem, the DTW tally and the wall time."""
    title = "UCR " + ("recipe selection (held out of TRAIN)" if select else "TRAIN -> TEST")
    table = Table(title=title)
    cols = ("dataset", "embedding_1nn", "embedding_1shot", "raw_1nn_euclidean", "raw_1shot")
    cols += ("dtw_1nn_published", "dtw_1nn_computed", "beats_dtw", "train_seconds")
    for c in cols:
        table.add_column(c.replace("_", " "), justify="left" if c == "dataset" else "right")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in cols))
    console.print(table)
    wins = sum(bool(r.get("beats_dtw")) for r in rows)
    console.print(f"beats 1-NN DTW on {wins} of {len(rows)}; wall time {wall:.0f} s")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if v <= 1.0 else f"{v:.1f}"
    return str(v)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 problems, a few steps (under a minute)")
    p.add_argument("--select", action="store_true", help="evaluate on held-out TRAIN, not TEST")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: --seed)")
    p.add_argument(
        "--folds",
        type=int,
        default=0,
        help="--select: train once per fold of TRAIN (K >= 2) and pool the folds' answers",
    )
    p.add_argument(
        "--candidate", default=None, help="--select: the name this screen is filed under"
    )
    p.add_argument(
        "--dtw-budget",
        type=float,
        default=DTW_BUDGET,
        help=f"compute DTW where sum(T_test) x sum(T_train) <= this (default {DTW_BUDGET:.0e})",
    )
    p.add_argument("--datasets", default=None, help="comma-separated problem names")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ucr"))
    p.add_argument("--config", default=str(ROOT / "configs" / "ucr.toml"))
    p.add_argument("--set", action="append", default=[], help="config override key=value")
    p.add_argument("--out", default=None, help="JSON result file (default: benchmarks/results/)")
    p.add_argument("--runs-dir", default=None, help="where run folders go (default: a temp dir)")
    args = p.parse_args(argv)
    try:
        args.seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    except ValueError:
        p.error(f"--seeds: expected comma-separated integers such as 0,1,2, got {args.seeds!r}")
    if args.folds and (args.folds < 2 or not args.select):
        p.error(f"--folds {args.folds}: expected K >= 2 folds of TRAIN, with --select")
    return args


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write-then-rename: a killed run never leaves a half-written result file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def file_candidate(out: Path, name: str, result: dict[str, Any]) -> None:
    """Add one screen's rows to candidate ``name`` in the selection record (under a file lock, so
    screens of one candidate may run in parallel over problems or seeds). A row for the same
    problem and seed replaces the older one; the summary is recomputed over all rows."""
    import fcntl

    out.parent.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"siamese-ucr-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = json.loads(out.read_text()) if out.is_file() else {}
        record.setdefault("benchmark", "ucr-select")
        cands = record.setdefault("candidates", {})
        old = cands.get(name, {"commands": [], "rows": []})
        if old.get("overrides", result["overrides"]) != result["overrides"]:
            raise SystemExit(f"--candidate {name}: filed before with other overrides")
        if old.get("folds", result["folds"]) != result["folds"]:
            raise SystemExit(f"--candidate {name}: filed before with --folds {old['folds']}")
        new = {(r["dataset"], r["seed"]) for r in result["rows"]}
        rows = [r for r in old["rows"] if (r["dataset"], r["seed"]) not in new] + result["rows"]
        cands[name] = {
            "config": result["config"],
            "overrides": result["overrides"],
            "folds": result["folds"],
            "commands": list(dict.fromkeys(old["commands"] + [result["command"]])),
            "summary": summarise(rows),
            "rows": rows,
            "measured": result["measured"],
        }
        write_json(out, record)


def save(
    out: Path,
    args: argparse.Namespace,
    argv: list[str] | None,
    rows: list[dict[str, Any]],
    wall: float,
) -> None:
    """Write the rows so far: the result file, or (``--select``) the candidate's entry."""
    summary = summarise(rows)
    result = {
        "benchmark": "ucr",
        "command": " ".join(
            ["python", "benchmarks/ucr.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "seed": args.seeds[0],
        "seeds": args.seeds,
        "config": str(args.config),
        "overrides": args.set,
        "folds": args.folds or None,
        "mode": "select" if args.select else "quick" if args.quick else "full",
        "rows": rows,
        "summary": summary,
        "beats_dtw": summary["beats_dtw_rows"],
        "wall_seconds": round(wall, 1),
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if args.select:
        file_candidate(out, args.candidate or ",".join(args.set) or "recipe", result)
    else:
        write_json(out, result)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=160)
    names = (
        args.datasets.split(",") if args.datasets else QUICK_DATASETS if args.quick else DATASETS
    )
    missing = [n for n in names if not (Path(args.data) / n).is_dir()]
    if missing:
        console.print(f"[red]UCR problems not found under {args.data}: {', '.join(missing)}[/]")
        return 2
    suffix = "_select" if args.select else "_quick" if args.quick else ""
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"ucr{suffix}.json")
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(args.runs_dir or tmp)
        for s in args.seeds:
            for n in names:
                if args.folds:
                    folds = [
                        run_problem(n, s, args, runs_dir, console, f) for f in range(args.folds)
                    ]
                    rows.append(pool_folds(folds))
                else:
                    rows.append(run_problem(n, s, args, runs_dir, console))
                save(out, args, argv, rows, time.perf_counter() - t0)  # a stopped run keeps these
    wall = time.perf_counter() - t0
    print_table(rows, wall, console, args.select)
    summary = summarise(rows)
    console.print(
        f"worst margin over 1-NN DTW (mean over seeds): {_fmt(summary['worst_margin'])}; "
        f"mean margin {_fmt(summary['mean_margin'])}"
    )
    console.print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
