"""Report sections about what went in: the dataset analysis and the experimental setup."""

from __future__ import annotations

import json
import platform
from typing import Any

import numpy as np
import torch

import siamese
from siamese.reporting import html as h
from siamese.reporting.figures_results import class_bars_figure, class_size_figure
from siamese.reporting.model_summary import layer_table, parameter_counts
from siamese.reporting.run_data import RunData
from siamese.reporting.run_folder import RunFolder

SCHEDULES = ("linear", "sine", "tanh", "logarithmic", "sigmoid", "cyclic_sigmoid", "constant")
SHOW_CLASS_NAMES = 12
MAX_CLASS_BARS = 40  # more classes: a histogram of class sizes instead of a bar per class


def _class_list(names: list[str]) -> str:
    if len(names) <= SHOW_CLASS_NAMES:
        return ", ".join(names)
    return ", ".join(names[:SHOW_CLASS_NAMES]) + f", … ({len(names) - SHOW_CLASS_NAMES} more)"


def dataset_section(run: RunFolder, data: RunData | None) -> str:
    """Classes, items, items per class, pairs by kind, split sizes and the split protocol."""
    ds = run.dataset.get("dataset", {})
    out = [
        h.metric_tiles(
            [
                ("source", run.dataset.get("source", run.config.get("data", {}).get("source"))),
                ("classes", ds.get("classes")),
                ("items", ds.get("items")),
                ("kind", ds.get("kind", run.info.get("kind"))),
                (
                    "item shape",
                    " x ".join(
                        str(s) for s in ds.get("item_shape", run.info.get("item_shape", []))
                    ),
                ),
            ]
        )
    ]
    ipc = ds.get("items_per_class", {})
    rows = [
        (
            "items per class (min / median / max)",
            f"{ipc.get('min')} / {ipc.get('median')} / {ipc.get('max')}",
        ),
        ("classes with a single item", ipc.get("single_item_classes")),
    ]
    if "lengths" in ds:
        ln = ds["lengths"]
        rows.append(
            ("sequence length (min / median / max)", f"{ln['min']} / {ln['median']} / {ln['max']}")
        )
    meta = run.dataset.get("meta", {})
    if meta.get("channels"):
        rows.append(("channels", ", ".join(map(str, meta["channels"]))))
    rows.append(("split protocol", run.dataset.get("split", run.info.get("split", "not recorded"))))
    out.append(h.key_values(rows))
    if data is not None:
        out.append(
            h.image(
                _class_figure(data),
                "items per class",
                "How many items each class has: one-shot learning needs many classes, "
                "each with at least two items.",
            )
        )
        pairs = data.dataset.meta.get("pairs")
        if pairs is not None and "same" in pairs:
            same = np.asarray(pairs["same"], dtype=bool)
            out.append("<h3>Pairs by kind (from the data's pair list)</h3>")
            out.append(
                h.table(
                    ["kind", "pairs"],
                    [
                        ["same class", int(same.sum())],
                        ["different class", int((~same).sum())],
                        ["total", int(len(same))],
                    ],
                )
            )
    else:
        out.append(h.note("Items-per-class histogram left out: the data could not be read again."))
    out.append("<h3>Splits</h3>")
    split_classes = run.info.get("split_classes", {})
    rows = [
        [name, s.get("items"), s.get("classes"), _class_list(split_classes.get(name, []))]
        for name, s in run.dataset.get("splits", {}).items()
    ]
    out.append(h.table(["split", "items", "classes", "class names"], rows))
    out.append(
        "<p>Evaluation classes are never seen in training unless the protocol above says "
        "items were held out of the training classes.</p>"
    )
    return "".join(out)


def _class_figure(data: RunData) -> str:
    """Items per class: a bar per class coloured by split (few classes), else a histogram."""
    names = data.dataset.class_names
    counts = np.bincount(data.dataset.labels, minlength=len(names))
    if np.count_nonzero(counts) > MAX_CLASS_BARS:
        return class_size_figure(counts[counts > 0])
    return class_bars_figure(*class_split_counts(data))


def class_split_counts(data: RunData) -> tuple[list[str], dict[str, np.ndarray]]:
    """The classes that have items and, per split, how many of each class's items it holds.

    A class split by items (a protocol that holds items out of the training classes) counts in
    every split it has items in; items in no split count as ``unused``.
    """
    names = data.dataset.class_names
    counts = np.bincount(data.dataset.labels, minlength=len(names))
    present = np.flatnonzero(counts)
    per_split = {
        part: np.bincount(ds.labels, minlength=len(names))[present]
        for part, ds in data.parts.items()
        if len(ds)
    }
    used = sum(per_split.values()) if per_split else np.zeros(len(present), dtype=np.int64)
    per_split["unused"] = counts[present] - used
    return [names[c] for c in present], per_split


def setup_section(run: RunFolder, model: Any, times: dict[str, float] | None) -> str:
    """Everything needed to reproduce the run, the encoder's layers and the wall times."""
    cfg = run.config
    tr, sm, mn, ev = (cfg.get(k, {}) for k in ("training", "sampling", "mining", "evaluation"))
    objective = run.info.get("objective") or cfg.get("objective", {})
    enc = run.model.get("encoder", {})
    out = ["<h3>Encoder</h3>"]
    args = ", ".join(f"{k}={v}" for k, v in enc.get("args", {}).items())
    out.append(
        f"<p><b>{h.esc(enc.get('name'))}</b>({h.esc(args)}) → embedding of "
        f"{h.esc(run.model.get('embedding_dim') or '?')} dimensions</p>"
    )
    if model is not None:
        rows = layer_table(model, tuple(run.info.get("item_shape", [])))
        out.append(
            h.table(
                ["layer", "type", "output shape (batch of 1)", "parameters", "trainable"],
                [[r.name, r.kind, r.output_shape, r.params, r.trainable] for r in rows],
            )
        )
        total, trainable = parameter_counts(model)
        head = " (including the pair head)" if run.model.get("head") else ""
        out.append(
            f"<p>Parameters{head}: <b>{total:,}</b> in total, <b>{trainable:,}</b> trainable.</p>"
        )
    else:
        out.append(h.note("Layer table left out: the model files could not be loaded."))
    batch = _batch_statement(run, sm)
    stop = "none (all epochs run)"
    if tr.get("early_stopping") and run.training.get("best_epoch") is not None:
        stop = (
            f"early stopping on {tr.get('monitor')} (patience {tr.get('patience')}, "
            f"min delta {tr.get('min_delta')}); {run.restore_statement()}"
        )
    elif tr.get("early_stopping"):
        stop = "none: early stopping needs a validation split (all epochs run, last one evaluated)"
    mining = _mining_statement(mn)
    last_step = run.metrics[-1].get("step")
    opt = f"{tr.get('optimizer')} (weight decay {tr.get('weight_decay')}"
    opt += f", momentum {tr.get('momentum')})" if tr.get("optimizer") == "sgd" else ")"
    rows = [
        ("objective", objective.get("name")),
        ("margin", objective.get("margin")),
        ("distance", objective.get("distance") or run.model.get("distance")),
        ("optimiser", opt),
        ("learning rate", f"{tr.get('learning_rate')} (schedule: {tr.get('lr_schedule')})"),
        ("gradient clipping", tr.get("grad_clip") or "off"),
        ("batch", batch),
        (
            "epochs",
            f"{run.training.get('epochs_run', run.metrics[-1]['epoch'])} run of "
            f"{tr.get('epochs')} at most, {tr.get('steps_per_epoch')} steps each "
            f"({last_step} steps in all)",
        ),
        ("stopping rule", stop),
        ("stopped by", run.training.get("stopped_reason")),
        ("mining", mining),
        (
            "normalisation",
            run.model.get("normaliser", {}).get("mode", cfg.get("data", {}).get("normalise")),
        ),
        ("seed", cfg.get("seed")),
        ("evaluation", _evaluation_statement(run, ev)),
        ("augmentation", _augment_statement(cfg)),
        *_size_rows(run),
    ]
    out.append("<h3>Training</h3>" + h.key_values(rows))
    out.append(_embedding_note(run))
    out.append(
        "<details><summary>The full resolved config (config.json)</summary><pre>"
        + h.esc(json.dumps(cfg, indent=2, sort_keys=True))
        + "</pre></details>"
    )
    out.append("<h3>Versions</h3>")
    out.append(
        h.table(
            ["library", "at training", "at report time"],
            [
                ["siamese", run.model.get("library_version", "?"), siamese.__version__],
                ["torch", run.model.get("torch_version", "?"), torch.__version__],
                ["numpy", run.info.get("numpy_version", "not recorded"), np.__version__],
                [
                    "python",
                    run.info.get("python_version", "not recorded"),
                    platform.python_version(),
                ],
            ],
        )
    )
    out.append("<h3>Wall times</h3>" + h.key_values(_times(run, times)))
    return "".join(out)


ONLINE = ("batch_hard", "batch_all", "semi_hard", "scheduled")


def effective_p(run: RunFolder) -> int | None:
    """P as the P x K generator used it: capped at the training classes (at least 2)."""
    p = run.config.get("sampling", {}).get("p")
    classes = run.dataset.get("splits", {}).get("train", {}).get("classes")
    if p is None:
        return None
    return max(2, min(int(p), int(classes))) if classes else int(p)


def _batch_statement(run: RunFolder, sm: dict[str, Any]) -> str:
    if sm.get("kind") != "pk":
        return f"{sm.get('batch_size')} {sm.get('kind')} per batch"
    p, k = effective_p(run), sm.get("k")
    ipc = run.dataset.get("splits", {}).get("train", {}).get("items_per_class", {})
    text = f"P x K = {p} classes x {k} items"
    if p != sm.get("p"):
        text += f" (P = {sm.get('p')} configured, capped at the {p} training classes)"
    if ipc.get("min") is not None and k is not None and ipc["min"] < k:
        text += f"; classes with fewer than {k} items give all they have (smallest: {ipc['min']})"
    return text


def _mining_statement(mn: dict[str, Any]) -> str:
    strategy = mn.get("strategy", "none")
    if strategy == "none":
        return "none (tuples drawn at random)"
    if strategy in ONLINE:
        text = f"{strategy}: online, chosen inside every training batch from the model as it is"
        if strategy == "scheduled":
            text += (
                f" (target hardness on a {mn.get('schedule')} schedule: threshold "
                f"{mn.get('threshold')}, growth {mn.get('growth')}, midpoint {mn.get('midpoint')}, "
                f"cycles {mn.get('cycles')})"
            )
        return text
    text = strategy
    if strategy in SCHEDULES:
        text += (
            f" schedule (threshold {mn.get('threshold')}, growth {mn.get('growth')}, "
            f"midpoint {mn.get('midpoint')}, cycles {mn.get('cycles')})"
        )
    every = mn.get("refresh_every")
    text += ", offline: candidates re-mined " + (
        f"every {every} steps" if every else "once per epoch"
    )
    return text


def _evaluation_statement(run: RunFolder, ev: dict[str, Any]) -> str:
    done = run.evaluation
    n_way = done.get("n_way", ev.get("n_way"))
    text = f"{n_way}-way {done.get('k_shot', ev.get('k_shot'))}-shot, "
    text += f"{done.get('episodes', ev.get('episodes'))} episodes; {ev.get('pairs')} pairs"
    if done.get("n_way") is not None and done["n_way"] != ev.get("n_way"):
        text += (
            f" (n_way = {ev.get('n_way')} configured, capped at the {done['n_way']} test classes "
            f"with at least {done.get('k_shot', 1) + 1} items)"
        )
    if not done.get("n_way"):
        text += " (configured; no test evaluation was recorded)"
    return text


def _augment_statement(cfg: dict[str, Any]) -> str:
    aug = cfg.get("data", {}).get("augment") or {}
    if not aug:
        return "none"
    return ", ".join(f"{k}={v}" for k, v in aug.items())


def _size_rows(run: RunFolder) -> list[tuple[str, Any]]:
    data = run.config.get("data", {})
    meta = run.dataset.get("meta", {})
    rows = []
    original = meta.get("original_size") or meta.get("image_size")
    if original:
        rows.append(("original item size (as read)", original))
    if data.get("size"):
        rows.append(("resized to", data["size"]))
    return rows


def _embedding_note(run: RunFolder) -> str:
    """What the embedding's dimensions are, when the model says they are not all learned."""
    dim = run.model.get("embedding_dim")
    enc = run.model.get("encoder", {}).get("args", {})
    learned = enc.get("embedding_dim")
    if not (dim and learned) or int(dim) == int(learned):
        return ""
    extra = int(dim) - int(learned)
    text = (
        f"<p>The embedding has {dim} dimensions: {learned} learned by the encoder and {extra} "
        "fixed (never trained) features of the input joined to them"
    )
    shape = run.info.get("item_shape") or []
    if enc.get("fixed_features") and shape:
        channels = int(shape[-1])
        text += (
            f" ({extra // channels} per channel for its {channels} channels: per-channel summary "
            "statistics and the spectrum shape, standardised by the training batches' running "
            f"statistics, unit-normalised and weighted by {enc['fixed_features']})"
        )
    return text + ". Distances and the embedding view use all of them.</p>"


def _best_text(t: dict[str, Any]) -> Any:
    best = t.get("best_epoch")
    if best is None:
        return "none (no validation split)"
    return "0 (before training: training never beat the untrained model)" if best == 0 else best


def _times(run: RunFolder, times: dict[str, float] | None) -> list[tuple[str, Any]]:
    t = run.training
    epochs = [m for m in run.metrics if m["epoch"] > 0]
    per_epoch = float(np.mean([m.get("seconds", 0.0) for m in epochs])) if epochs else None
    rows: list[tuple[str, Any]] = [
        ("training (s)", t.get("seconds")),
        ("mean per epoch incl. validation (s)", None if per_epoch is None else round(per_epoch, 2)),
        ("best epoch (by the monitored metric)", _best_text(t)),
        ("evaluated epoch (whose weights were saved)", run.evaluated_epoch),
        ("test evaluation (s)", run.evaluation.get("seconds")),
    ]
    if times:
        rows += [
            (
                f"prediction per pair (ms, batches of {times['pairs_per_batch']} pairs, 1 CPU thread, now)",
                round(times["ms_per_pair"], 4),
            ),
            (
                f"prediction per query (ms, 1 item vs {times['gallery_size']} stored, 1 CPU thread, now)",
                round(times["ms_per_query"], 4),
            ),
        ]
    return rows
