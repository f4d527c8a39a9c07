"""A pretrained face embedder, used as is: face-api's port of dlib's ResNet on LFW and AT&T faces.

PROTOCOL (read this first): the network was trained by dlib's author on outside labelled face data
(about 3 million faces of about 7,500 people). Nothing here trains it, and nothing of LFW or AT&T
was used to fit its weights by us; figures are those of a network that has seen many labelled
faces, not of our from-scratch recipe (``benchmarks/lfw.py``), and they are shown side by side
with it only as what a user gets from each route.

Measured:

(a) **LFW View 2, 10 folds** (``pairs.txt``): pair score = minus the euclidean distance of the
    128-d descriptors (face-api's and dlib's comparison); per fold, the threshold that is best on
    the other nine folds' pairs. Preparation: the simplest crop, a fixed central square of the
    150x150 deep-funneled image resized to 150x150 (no detector, no landmarks). Several crop sizes
    are tried; the crop is chosen **per fold, on the other nine folds** (on a selection of their
    pairs, the first 30 same and 30 different of each fold, to keep the CPU time down), never on
    the fold it is scored on. (The shared ``train.txt``/``test.txt`` are View 2's folds 1-8 / 9-10,
    not LFW's separate View 1, so a choice "on DevTrain" would be a choice on View 2's folds; the
    per-fold choice keeps every scored fold out of it.)
(b) **LFW identification, one enrolled photo per person**: every person of the View 2 images is
    enrolled with their first photo (4,281 people; those with one photo are distractors); every
    other photo of a person with two or more is a query; top-1 / top-5 nearest enrolled photo.
    Crop: the one chosen most often in (a).
(c) **AT&T faces (ORL), 1-shot 40-way**: all 40 people, episodes of one support photo per person
    and one query per person; the largest central square (92x92) resized to 150x150. AT&T images
    are grayscale: the same value goes to R, G and B.

Usage:
    python benchmarks/lfw_pretrained.py [--quick] [--crops 90,105,120] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lfw import quick_pair_files  # noqa: E402

from siamese._io import atomic_write_json, atomic_write_text  # noqa: E402
from siamese.data import load_source  # noqa: E402
from siamese.data.augment import center_crop  # noqa: E402
from siamese.evaluation.one_shot import n_way_k_shot_accuracy  # noqa: E402
from siamese.evaluation.pair_protocol import k_fold_verification, pair_list_scores  # noqa: E402
from siamese.evaluation.verification import VerificationEvaluator  # noqa: E402
from siamese.model import SiameseModel  # noqa: E402
from siamese.weights import import_face_api  # noqa: E402
from siamese.weights.face_api import PROTOCOL  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
FROM_SCRATCH = {  # benchmarks/results/lfw.json (BENCHMARKS.md, "LFW face verification")
    "lfw_view2_retrained_per_fold": 0.832,
    "lfw_dev_test": 0.842,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DATA), help="the shared data folder")
    p.add_argument("--crops", default="90,105,120", help="central square sides to try (pixels)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument(
        "--select-pairs",
        type=int,
        default=30,
        help="same (and different) pairs per fold for the crop choice",
    )
    p.add_argument("--episodes", type=int, default=1000, help="AT&T 40-way episodes")
    p.add_argument("--seed", type=int, default=0, help="AT&T episode sampling")
    p.add_argument("--quick", action="store_true", help="a few pairs and people (seconds)")
    p.add_argument(
        "--fine-tune-fold",
        type=int,
        default=None,
        help="instead: fine-tune on the other nine folds' people and score this fold (1-10)",
    )
    p.add_argument("--crop", type=int, default=110, help="--fine-tune-fold: the crop")
    p.add_argument(
        "--align",
        action="store_true",
        help="instead: faces aligned by the landmark model (results/lfw_pretrained_aligned.json)",
    )
    p.add_argument(
        "--aligns",
        default="68:0.75,5:0.75,68:0.9,5:0.9",
        help="--align: the candidates POINTS:LANDMARK_BOX, chosen per fold on the other nine",
    )
    p.add_argument("--out", default=None, help="JSON result (default results/lfw_pretrained.json)")
    return p.parse_args(argv)


def embed(model: SiameseModel, dataset: Any, *, crop: int, console: Console) -> np.ndarray:
    """Descriptors ``(N, 128)`` of a dataset's images cropped to ``crop`` and resized to 150."""
    t0 = time.perf_counter()
    out = model.embed_dataset(center_crop(dataset, crop, 150), batch_size=64)
    console.print(f"  crop {crop}: {len(out)} images in {time.perf_counter() - t0:.0f} s")
    return out


def selection_pairs(same: np.ndarray, folds: np.ndarray, per_fold: int) -> np.ndarray:
    """The first ``per_fold`` same and ``per_fold`` different pairs of each fold (a mask)."""
    mask = np.zeros(len(same), dtype=bool)
    for k in np.unique(folds):
        for kind in (True, False):
            mask[np.flatnonzero((folds == k) & (same == kind))[:per_fold]] = True
    return mask


def crop_embedders(model: SiameseModel, crops: list[int], console: Console) -> dict[str, Any]:
    """The fixed-crop candidates: ``{"crop C": dataset -> descriptors}``, smaller crops first."""
    return {f"crop {c}": partial(embed, model, crop=c, console=console) for c in sorted(crops)}


def view2(
    model: SiameseModel, lfw: Path, embedders: dict[str, Any], per_fold: int, console: Console
) -> dict[str, Any]:
    """(a) and (b): the preparation (a crop, or an alignment setting) chosen per fold on the other
    folds' selection pairs, then 10-fold verification with the chosen one on every pair;
    identification with the one chosen most often. ``embedders``: name -> (dataset ->
    descriptors), in order of preference on ties; ``model`` gives the pair distance."""
    ds = load_source("lfw", path=str(lfw), pairs="pairs.txt")
    pr = ds.meta["pairs"]
    same, folds = pr["same"].astype(bool), pr["fold"]
    sel = selection_pairs(same, folds, per_fold)
    sub = np.unique(np.r_[pr["i"][sel], pr["j"][sel]])
    pos = np.full(len(ds), -1)
    pos[sub] = np.arange(len(sub))
    names = list(embedders)
    console.print(f"  selection: {int(sel.sum())} pairs, {len(sub)} images, candidates {names}")
    sel_scores = {}
    for c in names:
        e = embedders[c](ds.subset(sub))
        sel_scores[c] = pair_list_scores(model, e, pos[pr["i"][sel]], pos[pr["j"][sel]])
    chosen = []
    for k in np.unique(folds):
        other = folds[sel] != k
        acc = {
            c: VerificationEvaluator()
            .fit(sel_scores[c][other], same[sel][other])
            .score(sel_scores[c][other], same[sel][other])
            for c in names
        }
        chosen.append(max(names, key=lambda c: (acc[c], -names.index(c))))
    scores, embs = {}, {}
    for c in sorted(set(chosen), key=names.index):
        console.print(f"  all images, {c}:")
        embs[c] = embedders[c](ds)
        scores[c] = pair_list_scores(model, embs[c], pr["i"], pr["j"])
    accs = []
    for k, c in zip(np.unique(folds), chosen, strict=True):
        test = folds == k
        fit = VerificationEvaluator().fit(scores[c][~test], same[~test])
        accs.append(fit.score(scores[c][test], same[test]))
    most = Counter(chosen).most_common(1)[0][0]
    return {
        "pairs": int(len(same)),
        "images": len(ds),
        "selection": {
            "pairs": int(sel.sum()),
            "images": int(len(sub)),
            "per_fold": per_fold,
            "per_candidate_10fold": {
                c: k_fold_verification(sel_scores[c], same[sel], folds[sel]).to_dict()
                for c in names
            },
        },
        "per_candidate_10fold": {
            c: k_fold_verification(scores[c], same, folds).to_dict() for c in scores
        },
        "selected": {
            "mean": float(np.mean(accs)),
            "std": float(np.std(accs)),
            "per_fold": [float(a) for a in accs],
            "candidate_per_fold": chosen,
            "protocol": (
                f"per fold, the candidate best on the other nine folds' selection pairs (the "
                f"first {per_fold} same + {per_fold} different of each fold); the threshold best "
                "on all of the other nine folds' pairs"
            ),
        },
        "identification": identification(embs[most], ds.labels, ds.sources) | {"candidate": most},
        "_dataset": ds,
    }


def identification(emb: np.ndarray, labels: np.ndarray, sources: list[str]) -> dict[str, Any]:
    """(b): first photo of each person enrolled, every other photo a query (euclidean)."""
    order = np.lexsort((np.array(sources), labels))  # by person, then file
    first = np.ones(len(order), dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    enrolled, queries = order[first], order[~first]
    d = torch.cdist(torch.as_tensor(emb[queries]), torch.as_tensor(emb[enrolled]))  # (Q, P)
    top = d.topk(min(5, d.shape[1]), largest=False).indices.numpy()
    hit = labels[enrolled][top] == labels[queries][:, None]
    return {
        "enrolled_people": int(len(enrolled)),
        "people_with_queries": int(len(np.unique(labels[queries]))),
        "queries": int(len(queries)),
        "top1": float(hit[:, 0].mean()) if len(queries) else None,
        "top5": float(hit.any(axis=1).mean()) if len(queries) else None,
    }


def att(
    model: SiameseModel, path: Path, episodes: int, seed: int, n_way: int, pad: bool = False
) -> dict[str, Any]:
    """(c): AT&T 1-shot ``n_way``-way on the largest central square resized to 150, or (``pad``)
    on the whole photo zero-padded to a square, then resized to 150."""
    ds = load_source("folders", path=str(path))
    h, w = ds.item_shape[-2:]
    if pad:
        side = max(h, w)
        sq = np.zeros((len(ds), ds.item_shape[0], side, side), dtype=np.float32)
        top, left = (side - h) // 2, (side - w) // 2
        sq[:, :, top : top + h, left : left + w] = ds.load(np.arange(len(ds)))
        items = torch.nn.functional.interpolate(
            torch.from_numpy(sq), size=(150, 150), mode="bilinear", antialias=True
        )  # (N, C, 150, 150)
        emb = model.embed(items.round().clamp(0, 255).to(torch.uint8), batch_size=64).numpy()
    else:
        emb = model.embed_dataset(center_crop(ds, min(h, w), 150), batch_size=64)
    res = n_way_k_shot_accuracy(
        emb, ds.labels, n_way=n_way, k_shot=1, episodes=episodes, distance="euclidean", seed=seed
    )
    return {
        "people": int(len(np.unique(ds.labels))),
        "images": len(ds),
        "image_size": [int(h), int(w)],
        "framing": f"zero-padded to {max(h, w)}x{max(h, w)}" if pad else f"central {min(h, w)}",
        "n_way": n_way,
        **res.to_dict(),
    }


def aligned_embedders(
    data: Path, tmp: Path, settings: list[str], console: Console
) -> dict[str, tuple[SiameseModel, Any]]:
    """The alignment candidates ``POINTS:BOX`` (e.g. ``68:0.75``): each an imported aligned model
    and its embedding function."""
    out = {}
    for k, item in enumerate(settings):
        points, box = item.split(":")
        folder = tmp / f"aligned{k}"
        import_face_api(data / "pretrained" / "face-api", folder, align=True, points=points,
                        landmark_box=float(box))  # fmt: skip
        m = SiameseModel.load(folder)
        name = f"aligned {points}-point, landmark box {float(box):g}"
        out[name] = (m, partial(embed_aligned, m, name=name, console=console))
    return out


def embed_aligned(model: SiameseModel, dataset: Any, *, name: str, console: Console) -> np.ndarray:
    """Descriptors of a dataset's 150x150 images through the aligned model."""
    t0 = time.perf_counter()
    out = model.embed_dataset(dataset, batch_size=64)
    console.print(f"  {name}: {len(out)} images in {time.perf_counter() - t0:.0f} s")
    return out


def alignment_failures(model: SiameseModel, dataset: Any) -> dict[str, Any]:
    """How many images the aligned model could not align (its fallback: the central crop)."""
    from siamese.data.face_align import inside

    enc, bad = model.encoder, []
    with torch.no_grad():
        for start in range(0, len(dataset), 256):
            idx = np.arange(start, min(start + 256, len(dataset)))
            x = torch.as_tensor(dataset.load(idx)).float()
            marks = enc.find_landmarks(x)
            bad.append(~inside(marks, enc.points, *x.shape[-2:]))
    bad = torch.cat(bad).numpy()
    return {"images": int(len(bad)), "not_aligned": int(bad.sum()),
            "examples": [dataset.sources[i] for i in np.flatnonzero(bad)[:5]]}  # fmt: skip


def previous_fixed_crop() -> dict[str, Any] | None:
    """The fixed-crop figures of ``results/lfw_pretrained.json`` (the run without alignment)."""
    path = ROOT / "benchmarks" / "results" / "lfw_pretrained.json"
    if not path.is_file():
        return None
    import json

    rec = json.loads(path.read_text())
    f = rec["figures"]
    return {"file": "benchmarks/results/lfw_pretrained.json", "command": rec["command"],
            "lfw_view2": {k: f["lfw"]["selected"][k] for k in ("mean", "std")},
            "identification": {k: f["lfw"]["identification"][k] for k in ("top1", "top5")},
            "att": f["att"]["accuracy"], "wall_seconds": rec["wall_seconds"]}  # fmt: skip


#: (d) the fine-tuning recipe: frozen backbone for epoch 1 (the head learns), then everything at
#: a tenth of the rate with layer-wise decay 0.8; triplet loss on euclidean distances, as dlib's.
FINE_TUNE = [
    'data.source="lfw"', 'data.pairs="pairs.txt"', "data.size=150", "data.grayscale=false",
    'data.split="protocol"', "data.val_fraction=0.1", 'data.normalise="none"',
    "data.augment={flip=true}",
    'model.encoder="face_resnet"', "model.embedding_dim=128",
    'objective.name="triplet"', "objective.margin=0.2", 'objective.distance="euclidean"',
    'sampling.kind="pk"', "sampling.p=8", "sampling.k=2", 'mining.strategy="batch_all"',
    "training.epochs=2", "training.steps_per_epoch=15", "training.learning_rate=1e-4",
    "training.freeze_backbone_epochs=1", "training.backbone_lr_scale=0.1",
    "training.layer_decay=0.8", "training.early_stopping=false", "training.restore_best=false",
    "training.val_batches=1", "training.snapshot_items=0", "training.progress=false",
    "evaluation.episodes=50", "evaluation.val_episodes=20", "evaluation.pairs=200",
]  # fmt: skip


def fine_tune_fold(
    model_dir: Path, lfw: Path, fold: int, crop: int, per_fold: int, out_dir: Path,
    console: Console, steps: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """(d) one View 2 fold: fine-tune on the other nine folds' people, score the fold, and the
    model as is on the same pairs with the same threshold protocol (threshold on the other
    folds' selection pairs, so neither model embeds all 6,000 images)."""
    import dataclasses

    from _recipe import train_run

    from siamese.training import load_config

    cfg = load_config(None, [
        f'name="lfw_finetune_fold{fold + 1:02d}"', f'out_dir="{out_dir}"', f'data.path="{lfw}"',
        f"data.crop={crop}", f'model.init_from="{model_dir}"', *FINE_TUNE,
        *([f"training.steps_per_epoch={steps}"] if steps else []),
    ])  # fmt: skip

    def assign(ds: Any) -> Any:
        return dataclasses.replace(
            ds, split=np.where(ds.meta["item_fold"] == fold, "test", "train").astype(object)
        )

    t0, cpu0 = time.perf_counter(), time.process_time()
    tuned = train_run(cfg, transform=assign, overwrite=True, report=False).model
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ds = load_source("lfw", path=str(lfw), pairs="pairs.txt")
    pr = ds.meta["pairs"]
    same, folds = pr["same"].astype(bool), pr["fold"]
    test = folds == fold
    ref = selection_pairs(same, folds, per_fold) & ~test  # where the threshold is chosen
    used = test | ref
    sub = np.unique(np.r_[pr["i"][used], pr["j"][used]])
    pos = np.full(len(ds), -1)
    pos[sub] = np.arange(len(sub))
    out = {}
    for name, m in (("as_is", SiameseModel.load(model_dir)), ("fine_tuned", tuned)):
        e = embed(m, ds.subset(sub), crop=crop, console=console)
        sc = pair_list_scores(m, e, pos[pr["i"]], pos[pr["j"]])
        ver = VerificationEvaluator().fit(sc[ref], same[ref])
        out[name] = {"accuracy": float(ver.score(sc[test], same[test])),
                     "threshold": float(ver.threshold_)}  # fmt: skip
    return {
        "fold": fold + 1,
        "test_pairs": int(test.sum()),
        "threshold_pairs": int(ref.sum()),
        "crop": crop,
        **out,
        "recipe": FINE_TUNE,
        "train_wall_seconds": round(train_wall, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "protocol": (
            f"trained on the people of the other nine folds (10% held out for validation); the "
            f"threshold of both models chosen on the first {per_fold} same + {per_fold} different "
            "pairs of each of the other nine folds; accuracy on the fold's 600 pairs"
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    console = Console()
    data = Path(args.data)
    crops = [int(c) for c in args.crops.split(",")]
    load0, t0, cpu0 = os.getloadavg(), time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "face_api"
        if not args.align:  # (--align imports its own models)
            import_face_api(data / "pretrained" / "face-api", model_dir, align=False)
            model = SiameseModel.load(model_dir)
        lfw = data / "lfw"
        if args.quick:
            quick_pair_files(lfw, Path(tmp), per_part=5, per_fold=3)
            (Path(tmp) / "images").symlink_to(lfw / "images")
            lfw = Path(tmp)
        if args.fine_tune_fold is not None:
            res = fine_tune_fold(
                model_dir, lfw, args.fine_tune_fold - 1, args.crop,
                2 if args.quick else args.select_pairs, Path(tmp) / "runs", console,
                steps=2 if args.quick else None,
            )  # fmt: skip
            res.update(wall_seconds=round(time.perf_counter() - t0, 1),
                       load_average_start=[round(v, 2) for v in load0],
                       load_average_end=[round(v, 2) for v in os.getloadavg()],
                       torch_threads=torch.get_num_threads(), quick=args.quick)  # fmt: skip
            name = "lfw_pretrained_finetune" + ("_quick" if args.quick else "")
            out = Path(args.out or ROOT / "benchmarks" / "results" / f"{name}.json")
            atomic_write_json(out, res)
            console.print(res)
            return res
        console.print("LFW View 2 ...")
        if args.align:
            settings = args.aligns.split(",")[: 2 if args.quick else None]
            models = aligned_embedders(data, Path(tmp), settings, console)
            model = next(iter(models.values()))[0]  # the pair distance (euclidean for all)
            figures = {"lfw": view2(model, lfw, {k: v[1] for k, v in models.items()},
                                    args.select_pairs, console)}  # fmt: skip
            model = models[figures["lfw"]["identification"]["candidate"]][0]
            figures["lfw"]["alignment_failures"] = alignment_failures(
                model, figures["lfw"]["_dataset"]
            )
        else:
            figures = {"lfw": view2(model, lfw, crop_embedders(model, crops, console),
                                    args.select_pairs, console)}  # fmt: skip
        figures["lfw"].pop("_dataset")
        console.print("AT&T ...")
        att_path = data / "att_faces"
        if args.quick:
            att_path = Path(tmp) / "att"
            for person in sorted((data / "att_faces").glob("s*"))[:5]:
                (att_path / person.name).mkdir(parents=True)
                for f in sorted(person.glob("*.pgm"))[:3]:
                    (att_path / person.name / f.name).symlink_to(f)
        figures["att"] = att(
            model, att_path, 20 if args.quick else args.episodes, args.seed,
            5 if args.quick else 40, pad=args.align,
        )  # fmt: skip
    record = {
        "benchmark": "lfw_pretrained",
        "command": "python "
        + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
        "quick": args.quick,
        "protocol": PROTOCOL,
        "model": "face-api face_recognition_model (dlib ResNet), imported by siamese import-weights",
        "aligned": args.align,
        **(
            {
                "alignment_candidates": args.aligns.split(",")[: 2 if args.quick else None],
                "fixed_crop_run": previous_fixed_crop(),
            }
            if args.align
            else {"crops_tried": crops}
        ),
        "figures": figures,
        "from_scratch": FROM_SCRATCH,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(time.process_time() - cpu0, 1),
        "load_average_start": [round(v, 2) for v in load0],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }
    print_table(console, record)
    name = "lfw_pretrained" + ("_aligned" if args.align else "") + ("_quick" if args.quick else "")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"{name}.json")
    atomic_write_json(out, record)
    atomic_write_text(out.with_suffix(".md"), markdown(record))
    console.print(f"wrote {out} and {out.with_suffix('.md')}")
    return record


def _rows(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    f = record["figures"]
    lfw, sel = f["lfw"], f["lfw"]["selected"]
    rows = [
        (
            "LFW View 2 10-fold, "
            + ("alignment" if record.get("aligned") else "crop")
            + " + threshold chosen per fold on the other 9",
            f"{sel['mean']:.4f} +/- {sel['std']:.4f}",
            f"chosen: {sorted(Counter(sel['candidate_per_fold']).items())}",
        )
    ]
    for c, r in lfw["selection"]["per_candidate_10fold"].items():
        rows.append((f"  {c} on the {lfw['selection']['pairs']} selection pairs",
                     f"{r['mean']:.4f} +/- {r['std']:.4f}", f"AUC {r['auc']:.4f}"))  # fmt: skip
    idn = lfw["identification"]
    if idn["top1"] is not None:
        rows.append((
            f"LFW identification, 1 photo x {idn['enrolled_people']} people enrolled",
            f"top-1 {idn['top1']:.4f}",
            f"top-5 {idn['top5']:.4f}; {idn['queries']} queries; {idn['candidate']}",
        ))  # fmt: skip
    a = f["att"]
    rows.append((
        f"AT&T {a['n_way']}-way 1-shot ({a['episodes']} episodes)",
        f"{a['accuracy']:.4f}",
        f"{a['people']} people, {a['images']} images; {a['framing']}",
    ))  # fmt: skip
    fails = lfw.get("alignment_failures")
    if fails:
        rows.append(
            (
                "LFW images not aligned (central-crop fallback)",
                f"{fails['not_aligned']} of {fails['images']}",
                ", ".join(fails["examples"]),
            )
        )
    prev = record.get("fixed_crop_run")
    if prev:
        rows.append(("LFW View 2 10-fold, fixed crop (the earlier run, same protocol)",
                     f"{prev['lfw_view2']['mean']:.4f} +/- {prev['lfw_view2']['std']:.4f}",
                     f"identification top-1 {prev['identification']['top1']:.4f}; AT&T "
                     f"{prev['att']:.4f}; {prev['file']}"))  # fmt: skip
    s = record["from_scratch"]
    rows.append(("from scratch (benchmarks/lfw.py): View 2 retrained per fold",
                 f"{s['lfw_view2_retrained_per_fold']:.3f}", "our recipe, LFW people only"))  # fmt: skip
    return rows


def print_table(console: Console, record: dict[str, Any]) -> None:
    how = "faces aligned by the landmark model" if record.get("aligned") else "as is"
    table = Table(title=f"Pretrained face embedder (trained on outside labelled data), {how}")
    for col in ("measure", "figure", "notes"):
        table.add_column(col)
    for row in _rows(record):
        table.add_row(*row)
    table.add_row("wall / CPU seconds", f"{record['wall_seconds']} / {record['cpu_seconds']}",
                  f"load {record['load_average_start']} -> {record['load_average_end']}, "
                  f"{record['torch_threads']} threads")  # fmt: skip
    console.print(table)


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Pretrained face embedder on LFW and AT&T ("
        + ("faces aligned by the landmark model" if record.get("aligned") else "as is")
        + ")",
        "",
        f"Protocol: {record['protocol']}.",
        "",
        f"Command: `{record['command']}`",
        "",
        "| measure | figure | notes |",
        "|---|---|---|",
        *[f"| {a.strip()} | {b} | {c} |" for a, b, c in _rows(record)],
        "",
        f"Wall {record['wall_seconds']} s, CPU {record['cpu_seconds']} s, "
        f"{record['torch_threads']} torch threads, load average {record['load_average_start']} "
        f"at the start and {record['load_average_end']} at the end.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
