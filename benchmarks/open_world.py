"""Open-world recognition: are the queries of never-seen classes flagged unknown, and does
clustering the unknowns (``Gallery.discover``) recover the never-seen classes?

Two settings, each trained as its own benchmark trains:

* **traffic**: the demo's recipe (``siamese.pipeline.demo.demo_config``: 5 seen patterns, the 3 never-seen
  ``flapping``, ``surge``, ``degradation``). Gallery: every training window of the 5 seen
  patterns; calibrated on the validation windows (leave-own-class-out: no never-seen window is
  used); queries: ``--queries`` fresh windows of each of the 8 patterns (simulator seed + 10,000,
  as the demo).
* **nsl_kdd**: ``configs/nsl_kdd.toml`` as ``benchmarks/nsl_kdd.py`` trains it (22 classes of
  KDDTrain+_20Percent); the never-seen classes are its 8 ``NOVEL`` attack types of KDDTest+.
  Gallery: half of each training class's records (at most ``PER_CLASS``); calibrated on the other
  half (at most ``PER_CLASS``), leave-own-class-out; queries: at most ``PER_CLASS`` KDDTest+
  records of each class (known and novel), seeded.

Measured in each space (the learned embedding, and the raw features: the normalised series
flattened / the z-scored records, with the SAME gallery, calibration, rules and clustering grid):

* AUROC of "unknown" detection: the distance to the nearest enrolled item, never-seen = positive;
* ``Gallery.discover`` on the queries its rule sends to clustering: purity, ARI and NMI against
  the true types (noise points count as singletons; known queries sent too count with their own
  class), ARI over the never-seen queries alone (the clustering without the detection's
  mistakes), how many never-seen types become a cluster (a cluster whose majority is that type
  with purity >= 0.9), per type the best such cluster's purity and recall, and where each type
  went (how many of it were clustered, into how many clusters, how many were noise, and the
  majority of the cluster holding most of it: another type's means it was merged).

**Settings are chosen on training classes only.** Selection runs train the same recipe with some
training classes held out (traffic: two runs, holding out ``loss_bursts`` + ``latency_spikes`` and
``blocked`` + ``capacity_limit`` of the 5 seen patterns, simulator seed + 20,000 for their
queries; NSL-KDD: 35% of the training classes, ``benchmarks/nsl_kdd.py --select``'s split). The
unknown rule (``RULES``: the calibrated threshold at each FAR of ``FARS``, or ``unknown="novelty"``
at each rate of ``NOVELTY_RATES``) and the clustering setting (``GRID``: method, link and its
scale, min cluster size, HDBSCAN's min_samples) are scored by ARI on the held-out classes (mean
over the runs); the best of each space is then applied once to the never-seen test types. The
grid on the test data is written too, labelled ``test_grid_not_used_for_choice`` (never used to
choose).

    python benchmarks/open_world.py            # both settings (a few minutes, threads 1)
    python benchmarks/open_world.py --quick    # tiny training (the test suite)

Writes ``benchmarks/results/open_world[_quick].{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nsl_kdd import NOVEL, QUICK_SET, raw_features  # noqa: E402

from siamese._io import atomic_write_json, atomic_write_text  # noqa: E402
from siamese.data.traffic import PATTERNS, simulate_traffic  # noqa: E402
from siamese.evaluation.verification import roc_auc  # noqa: E402
from siamese.gallery import Gallery  # noqa: E402
from siamese.model import SiameseModel  # noqa: E402
from siamese.pipeline import train_from_config  # noqa: E402
from siamese.pipeline.demo import SEEN, UNSEEN, demo_config  # noqa: E402
from siamese.training.config import apply_overrides, from_dict, read_config_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FARS = (0.01, 0.05, 0.1, 0.2)  # calibration false-accept rates: chosen on selection data too
NOVELTY_RATES = (0.01, 0.05)  # unknown="novelty": the share of a class's own examples beyond it
NOVELTY_FAR = (
    0.01  # the gallery's calibration under the novelty rule (only link="threshold" uses it)
)
PER_CLASS = 300  # NSL-KDD records per class in each of enrolment, calibration and queries
PURE = 0.9  # a type "becomes a cluster" when a cluster of purity >= this has it as majority
SELECT_HELD_TRAFFIC = (  # seen patterns held out in the selection runs (one training each)
    ("loss_bursts", "latency_spikes"),
    ("blocked", "capacity_limit"),
)
# which queries are clustered: (far, unknown, novelty_rate)
RULES = [
    *((far, "threshold", None) for far in FARS),
    *((NOVELTY_FAR, "novelty", rate) for rate in NOVELTY_RATES),
]
GRID = [
    *(
        {"method": "agglomerative", "link": link, "link_scale": s, "min_cluster_size": m}
        for link in ("threshold", "spread")
        for s in (0.75, 1.0, 1.5, 2.0, 3.0)
        for m in (5, 10)
    ),
    *(
        {"method": "hdbscan", "min_cluster_size": m, "min_samples": ms}
        for m in (5, 10, 20, 40)
        for ms in (None, 1)
    ),
]


def vector_gallery(dim: int, distance: str) -> Gallery:
    """A gallery over precomputed vectors: the embeddings (or raw features) are the items."""
    model = SiameseModel(
        nn.Identity(), distance=distance, info={"kind": "vector", "item_shape": [dim]}
    )
    return Gallery(model, index="exact")


def cluster_scores(found: Any, truth: np.ndarray, novel: list[str]) -> dict[str, Any]:
    """Purity, ARI, NMI of a discovery against the true type of each query (names)."""
    u = np.array(found.unknown, dtype=np.int64)
    out: dict[str, Any] = {"clusters": len(found.clusters), "noise": len(found.noise)}
    if not len(u):
        return {**out, "ari": 0.0, "nmi": 0.0, "ari_never_seen": 0.0, "purity": None,
                "recovered": 0, "per_type": {}}  # fmt: skip
    pred = np.full(len(truth), -1, dtype=np.int64)
    for c in found.clusters:
        pred[c.members] = c.cluster
    p = pred[u]
    singles = np.flatnonzero(p < 0)
    p = p.copy()
    p[singles] = len(found.clusters) + np.arange(len(singles))  # noise: each its own group
    t = truth[u]
    out["ari"] = float(adjusted_rand_score(t, p))
    out["nmi"] = float(normalized_mutual_info_score(t, p))
    only = np.isin(t, novel)  # the never-seen queries alone: the clustering, not the detection
    out["ari_never_seen"] = float(adjusted_rand_score(t[only], p[only])) if only.any() else 0.0
    majority, per_type = 0, {}
    for c in found.clusters:
        names, counts = np.unique(truth[c.members], return_counts=True)
        top = int(np.argmax(counts))
        majority += int(counts[top])
        name, purity = str(names[top]), float(counts[top] / c.size)
        if name in novel:
            recall = float(counts[top] / max(1, int((t == name).sum())))
            best = per_type.get(name)
            if best is None or (purity >= PURE, recall) > (best["purity"] >= PURE, best["recall"]):
                per_type[name] = {
                    "cluster": c.cluster,
                    "size": c.size,
                    "purity": purity,
                    "recall": recall,
                }
    clustered = sum(c.size for c in found.clusters)
    out["purity"] = float(majority / clustered) if clustered else None
    out["recovered"] = sum(1 for v in per_type.values() if v["purity"] >= PURE)
    out["per_type"] = per_type
    return out


def open_world(
    space: dict[str, np.ndarray],
    names: dict[str, np.ndarray],
    novel: list[str],
    distance: str,
    far: float,
) -> tuple[Gallery, dict[str, Any]]:
    """Enroll, calibrate at ``far``, score detection; returns the gallery and the figures."""
    g = vector_gallery(space["enroll"].shape[1], distance)
    g.add_embeddings(space["enroll"], names["enroll"].tolist())
    g.calibrate_embeddings(space["calib"], names["calib"].tolist(), far=far)
    q, truth = space["query"], names["query"]
    answers = g.identify_embeddings(q, k=1)
    dist = np.array([a.distance for a in answers])
    is_novel = np.isin(truth, novel)
    unknown = np.array([not a.known for a in answers])
    return g, {
        "auroc": roc_auc(dist, is_novel),  # farther from every enrolled item = never seen
        "far": far,
        "threshold": g.threshold_,
        "unknown_novel": int((unknown & is_novel).sum()),
        "novel": int(is_novel.sum()),
        "unknown_known": int((unknown & ~is_novel).sum()),
        "known": int((~is_novel).sum()),
        "nearest_distance_q05_median_q95": {  # per true type: is the threshold where it should be?
            str(t): [float(v) for v in np.quantile(dist[truth == t], [0.05, 0.5, 0.95])]
            for t in np.unique(truth)
        },
    }


def grid_scores(data: tuple[dict, dict, list[str]], distance: str) -> list[dict[str, Any]]:
    """Every unknown rule of ``RULES`` and clustering setting of ``GRID`` on one split."""
    space, names, novel = data
    rows = []
    for far, unknown, rate in RULES:
        g, detection = open_world(space, names, novel, distance, far)
        rule = {"far": far, "unknown": unknown, "novelty_rate": rate}
        for setting in GRID:
            found = g.discover_embeddings(space["query"], **discover_settings({**rule, **setting}))
            scores = cluster_scores(found, names["query"], novel)
            is_novel = np.isin(names["query"][found.unknown], novel)
            rows.append({**rule, **setting, **scores, "unknown_novel": int(is_novel.sum()),
                         "unknown_known": int((~is_novel).sum())})  # fmt: skip
    return rows


SETTING = ("far", "unknown", "novelty_rate", "method", "link", "link_scale", "min_cluster_size",
           "min_samples")  # fmt: skip


def discover_settings(row: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``Gallery.discover_embeddings`` in a grid row."""
    out = {k: row[k] for k in SETTING[1:] if row.get(k) is not None}
    return (
        out
        if out["unknown"] == "novelty"
        else {k: v for k, v in out.items() if k != "novelty_rate"}
    )


def evaluate(
    selects: list[tuple[dict, dict, list[str]]], test: tuple[dict, dict, list[str]], distance: str
) -> dict[str, Any]:
    """Per space: the setting with the best mean ARI over the selection splits, applied once to
    the test data (ties: the first in ``RULES`` x ``GRID``)."""
    out: dict[str, Any] = {}
    for space in ("embedding", "raw"):
        metric = distance if space == "embedding" else "euclidean"
        per_split = [grid_scores((s[0][space], s[1], s[2]), metric) for s in selects]
        mean_ari = [
            float(np.mean([rows[i]["ari"] for rows in per_split])) for i in range(len(per_split[0]))
        ]
        top = int(np.argmax(mean_ari))
        chosen = {k: per_split[0][top].get(k) for k in SETTING}
        t_space, t_names, t_novel = test[0][space], test[1], test[2]
        g, detection = open_world(t_space, t_names, t_novel, metric, chosen["far"])
        found = g.discover_embeddings(t_space["query"], **discover_settings(chosen))
        is_novel = np.isin(t_names["query"][found.unknown], t_novel)
        detection.update(discovery_unknown_novel=int(is_novel.sum()),
                         discovery_unknown_known=int((~is_novel).sum()))  # fmt: skip
        out[space] = {
            "detection": detection,
            "chosen_on_selection": {**chosen, "selection_mean_ari": mean_ari[top]},
            "discovery_settings": found.settings,
            "discovery": cluster_scores(found, t_names["query"], t_novel),
            "types": type_breakdown(found, t_names["query"], t_novel),
            "selection_grid": per_split,
            "test_grid_not_used_for_choice": grid_scores((t_space, t_names, t_novel), metric),
        }
    e, r = out["embedding"]["discovery"], out["raw"]["discovery"]
    out["ari_gain_over_raw"] = e["ari"] - r["ari"]
    return out


def type_breakdown(found: Any, truth: np.ndarray, novel: list[str]) -> dict[str, Any]:
    """Where each never-seen type went: how many of its queries were sent to clustering, into
    how many clusters (split), how many were noise, and whose majority its largest share joined
    (merged with another type when not its own)."""
    label = np.full(len(truth), -2, dtype=np.int64)  # -2: not unknown, -1: noise
    label[found.unknown] = -1
    majority = {}
    for c in found.clusters:
        label[c.members] = c.cluster
        names, counts = np.unique(truth[c.members], return_counts=True)
        majority[c.cluster] = str(names[int(np.argmax(counts))])
    out = {}
    for t in novel:
        mine = label[truth == t]
        held = mine[mine >= 0]
        ids, counts = np.unique(held, return_counts=True)
        main = int(ids[int(np.argmax(counts))]) if len(ids) else None
        out[t] = {
            "queries": int(len(mine)),
            "unknown": int((mine >= -1).sum()),
            "noise": int((mine == -1).sum()),
            "clusters": int(len(ids)),
            "largest_share": int(counts.max()) if len(ids) else 0,
            "largest_majority": None if main is None else majority[main],
        }
    return out


# ---------------------------------------------------------------- traffic
def traffic_run(seed: int, quick: bool, patterns: list[str], unseen: list[str], runs: Path) -> Any:
    raw = demo_config(
        name=f"open_world_traffic_{'_'.join(unseen)}", out_dir=str(runs), seed=seed, quick=quick
    )
    raw["data"].update(patterns=patterns, unseen=unseen)
    raw["training"]["progress"] = False
    raw["training"]["threads"] = 1
    return train_from_config(from_dict(raw), overwrite=True, report=False, progress_override=False)


def traffic_spaces(result: Any, patterns: list[str], seed: int, n: int) -> tuple[dict, dict]:
    model = result.model
    fresh = simulate_traffic(n, patterns=patterns, length=96, seed=seed)
    parts = {"enroll": result.splits["train"], "calib": result.splits["val"], "query": fresh}
    spaces: dict[str, dict[str, np.ndarray]] = {"embedding": {}, "raw": {}}
    names = {}
    for key, ds in parts.items():
        spaces["embedding"][key] = model.embed_dataset(ds)
        with torch.no_grad():
            x = model.normaliser(torch.as_tensor(ds.load(np.arange(len(ds)))))  # (N, T, F)
        spaces["raw"][key] = x.reshape(len(ds), -1).numpy().astype(np.float32)
        names[key] = np.array([ds.class_names[c] for c in ds.labels])
    return spaces, names


def traffic(args: argparse.Namespace, runs: Path, console: Console) -> dict[str, Any]:
    t0 = time.perf_counter()
    seen = list(SEEN)
    selects = []
    for held in SELECT_HELD_TRAFFIC:  # trained on 3 seen patterns; never sees the 3 unseen
        sel = traffic_run(args.seed, args.quick, seen, list(held), runs)
        spaces, names = traffic_spaces(sel, seen, args.seed + 20_000, args.queries)
        selects.append((spaces, names, list(held)))
    main = traffic_run(args.seed, args.quick, list(PATTERNS), list(UNSEEN), runs)
    t_spaces, t_names = traffic_spaces(main, list(PATTERNS), args.seed + 10_000, args.queries)
    distance = main.model.distance_name
    res = evaluate(selects, (t_spaces, t_names, list(UNSEEN)), distance)
    res.update(never_seen=list(UNSEEN), selection_held_out=[list(h) for h in SELECT_HELD_TRAFFIC],
               queries_per_pattern=args.queries, distance=distance,
               seconds=round(time.perf_counter() - t0, 1))  # fmt: skip
    return res


# ---------------------------------------------------------------- NSL-KDD
def nsl_run(args: argparse.Namespace, runs: Path, select: bool) -> tuple[Any, Any]:
    data = Path(args.data)
    raw_cfg = read_config_file(ROOT / "configs" / "nsl_kdd.toml")
    overrides = [
        f'data.path="{data / "KDDTrain+_20Percent.txt"}"',
        f'data.test_path="{data / "KDDTest+.txt"}"',
        f'out_dir="{runs}"',
        f'name="open_world_nsl{"_select" if select else ""}"',
        f"seed={args.seed}",
        "training.progress=false",
        *(QUICK_SET if args.quick else []),
    ]
    if select:  # as benchmarks/nsl_kdd.py --select: whole training classes held out
        raw_cfg["data"].pop("test_path", None)
        overrides = [o for o in overrides if not o.startswith("data.test_path")]
        overrides += ['data.split="classes"', "data.test_fraction=0.35", "data.val_fraction=0.0"]
    cfg = from_dict(apply_overrides(raw_cfg, overrides))
    return train_from_config(cfg, overwrite=True, report=False, progress_override=False), cfg


def _per_class(labels: np.ndarray, rng: np.random.Generator, parts: int) -> list[np.ndarray]:
    """Disjoint seeded index sets: each takes up to ``PER_CLASS`` of every class's items."""
    out: list[list[np.ndarray]] = [[] for _ in range(parts)]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        size = min(PER_CLASS, max(1, len(idx) // parts))
        for p in range(parts):
            out[p].append(idx[p * size : (p + 1) * size])
    return [np.sort(np.concatenate(o)) for o in out]


def nsl_spaces(result: Any, cfg: Any, seed: int, select: bool) -> tuple[dict, dict, list[str]]:
    tr, te = result.splits["train"], result.splits["test"]
    rng = np.random.default_rng([seed, 31])
    if select:  # the training file's known classes give enrolment, calibration and known queries
        enroll, calib, known_q = _per_class(tr.labels, rng, 3)
        (novel_q,) = _per_class(te.labels, rng, 1)
        novel = sorted({te.class_names[c] for c in np.unique(te.labels)})
        sources = {
            "enroll": (tr, enroll),
            "calib": (tr, calib),
            "query": (None, (known_q, novel_q)),
        }
    else:
        enroll, calib = _per_class(tr.labels, rng, 2)
        (query,) = _per_class(te.labels, rng, 1)
        novel = list(NOVEL)
        sources = {"enroll": (tr, enroll), "calib": (tr, calib), "query": (te, query)}
    raw_tr, raw_te = raw_features(cfg.data.options, tr, te)
    emb_tr, emb_te = result.model.embed_dataset(tr), result.model.embed_dataset(te)
    spaces: dict[str, dict[str, np.ndarray]] = {"embedding": {}, "raw": {}}
    names: dict[str, np.ndarray] = {}
    name_of = lambda ds, idx: np.array([ds.class_names[c] for c in ds.labels[idx]])  # noqa: E731
    for key, (ds, idx) in sources.items():
        if ds is None:  # select: known queries from train, novel ones from the held-out classes
            k_idx, n_idx = idx
            spaces["embedding"][key] = np.concatenate([emb_tr[k_idx], emb_te[n_idx]])
            spaces["raw"][key] = np.concatenate([raw_tr[k_idx], raw_te[n_idx]]).astype(np.float32)
            names[key] = np.concatenate([name_of(tr, k_idx), name_of(te, n_idx)])
            continue
        e, r = (emb_tr, raw_tr) if ds is tr else (emb_te, raw_te)
        spaces["embedding"][key], spaces["raw"][key] = e[idx], r[idx].astype(np.float32)
        names[key] = name_of(ds, idx)
    return spaces, names, novel


def nsl_kdd(args: argparse.Namespace, runs: Path, console: Console) -> dict[str, Any] | None:
    if not (Path(args.data) / "KDDTest+.txt").is_file():
        console.print(f"NSL-KDD files not found under {args.data}: left out")
        return None
    t0 = time.perf_counter()
    sel, sel_cfg = nsl_run(args, runs, select=True)
    s_spaces, s_names, s_novel = nsl_spaces(sel, sel_cfg, args.seed, select=True)
    main, cfg = nsl_run(args, runs, select=False)
    t_spaces, t_names, t_novel = nsl_spaces(main, cfg, args.seed, select=False)
    res = evaluate(
        [(s_spaces, s_names, s_novel)], (t_spaces, t_names, t_novel), main.model.distance_name
    )
    res.update(never_seen=t_novel, selection_held_out=[s_novel], per_class=PER_CLASS,
               distance=main.model.distance_name, seconds=round(time.perf_counter() - t0, 1))  # fmt: skip
    return res


# ---------------------------------------------------------------- output
def setting_text(ch: dict[str, Any]) -> str:
    """A chosen setting in a few words."""
    rule = (f"novelty rate {ch['novelty_rate']:g}" if ch["unknown"] == "novelty"
            else f"threshold at FAR {ch['far']:g}")  # fmt: skip
    if ch["method"] == "hdbscan":
        ms = "" if ch.get("min_samples") is None else f" min_samples {ch['min_samples']}"
        return f"{rule}; hdbscan min {ch['min_cluster_size']}{ms}"
    return (
        f"{rule}; agglomerative {ch['link_scale']:g} x {ch['link']}, min {ch['min_cluster_size']}"
    )


def rows_of(name: str, res: dict[str, Any]) -> list[list[str]]:
    out = []
    for space in ("embedding", "raw"):
        r = res[space]
        d, c, ch = r["detection"], r["discovery"], r["chosen_on_selection"]
        purity = "-" if c["purity"] is None else f"{c['purity']:.3f}"
        out.append([
            name, space, f"{d['auroc']:.3f}", f"{d['discovery_unknown_novel']}/{d['novel']}",
            f"{d['discovery_unknown_known']}/{d['known']}", setting_text(ch), str(c["clusters"]),
            purity, f"{c['ari']:.3f}", f"{c['ari_never_seen']:.3f}", f"{c['nmi']:.3f}",
            f"{c['recovered']}/{len(res['never_seen'])}",
        ])  # fmt: skip
    return out


HEADER = ["data", "space", "AUROC unknown", "never-seen clustered", "known clustered",
          "setting (chosen on selection)", "clusters", "purity", "ARI", "ARI never-seen only",
          "NMI", "types recovered"]  # fmt: skip


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Open-world recognition (`benchmarks/open_world.py`)",
        "",
        f"Command: `{record['command']}`; seed {record['seed']}; load average at the start "
        f"{record['load_average']}; wall {record['wall_seconds']} s.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    for name in ("traffic", "nsl_kdd"):
        if record.get(name):
            lines += ["| " + " | ".join(r) + " |" for r in rows_of(name, record[name])]
    lines.append("")
    for name in ("traffic", "nsl_kdd"):
        res = record.get(name)
        if not res:
            continue
        lines.append(f"**{name}**: ARI gain of the embedding over raw features {res['ari_gain_over_raw']:+.3f}. "
                     f"Never-seen types: {', '.join(res['never_seen'])}; settings chosen by mean ARI on held-out "
                     f"training classes {' and '.join(map(', '.join, res['selection_held_out']))}.")  # fmt: skip
        for space in ("embedding", "raw"):
            per = res[space]["discovery"]["per_type"]
            shown = "; ".join(
                f"{t}: cluster of {v['size']}, purity {v['purity']:.3f}, recall {v['recall']:.3f}"
                for t, v in sorted(per.items())
            )
            lines.append(f"- {space}: {shown or 'no cluster has a never-seen type as majority'}")
            where = "; ".join(
                f"{t}: {v['unknown']}/{v['queries']} clustered, {v['clusters']} cluster(s), "
                f"{v['noise']} noise, largest share {v['largest_share']} in a "
                f"{v['largest_majority'] or '-'}-majority cluster"
                for t, v in res[space]["types"].items()
            )
            lines.append(f"  - where each type went: {where}")
        lines.append("")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny training (the test suite)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--queries", type=int, default=None, help="traffic queries per pattern (100; --quick 30)"
    )
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nsl-kdd"))
    p.add_argument("--only", choices=["traffic", "nsl_kdd"], default=None, help="run one setting")
    p.add_argument("--out", default=None, help="JSON result file (default benchmarks/results/)")
    p.add_argument("--runs-dir", default=None, help="where the run folders go (default: temp)")
    args = p.parse_args(argv)
    if args.queries is None:
        args.queries = 30 if args.quick else 100
    return args


def main(argv: list[str] | None = None) -> int:
    import os
    import tempfile

    import faiss

    args = parse_args(argv)
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    console = Console(width=160)
    load = os.getloadavg()
    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "benchmark": "open_world",
        "command": " ".join(["python benchmarks/open_world.py", *(argv if argv is not None else sys.argv[1:])]),
        "seed": args.seed,
        "quick": args.quick,
        "rules": [list(r) for r in RULES],
        "grid": GRID,
        "pure": PURE,
        "load_average": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(args.runs_dir or tmp)
        if args.only in (None, "traffic"):
            record["traffic"] = traffic(args, runs, console)
        if args.only in (None, "nsl_kdd"):
            record["nsl_kdd"] = nsl_kdd(args, runs, console)
    record["wall_seconds"] = round(time.perf_counter() - t0, 1)
    table = Table(
        title=f"Open-world recognition (seed {args.seed}{', QUICK' if args.quick else ''})"
    )
    for h in HEADER:
        table.add_column(h)
    for name in ("traffic", "nsl_kdd"):
        if record.get(name):
            for r in rows_of(name, record[name]):
                table.add_row(*r)
    console.print(table)
    console.print(
        f"wall time {record['wall_seconds']:.0f} s (load average at the start {record['load_average']})"
    )
    out = Path(
        args.out
        or ROOT / "benchmarks" / "results" / f"open_world{'_quick' if args.quick else ''}.json"
    )
    atomic_write_json(out, record)
    atomic_write_text(out.with_suffix(".md"), markdown(record))
    console.print(f"results: {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
