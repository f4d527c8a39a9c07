"""Report sections about what went in: the dataset analysis and the experimental setup."""

from __future__ import annotations

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
    split_of = {int(c): part for part, ds in data.parts.items() for c in np.unique(ds.labels)}
    present = np.flatnonzero(counts)
    return class_bars_figure(
        [names[c] for c in present],
        counts[present],
        [split_of.get(int(c), "unused") for c in present],
    )


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
    batch = (
        f"P x K = {sm.get('p')} classes x {sm.get('k')} items"
        if sm.get("kind") == "pk"
        else f"{sm.get('batch_size')} {sm.get('kind')}"
    )
    stop = "none (all epochs run)"
    if tr.get("early_stopping"):
        stop = (
            f"early stopping on {tr.get('monitor')} (patience {tr.get('patience')}, "
            f"min delta {tr.get('min_delta')}), restore best weights: {h.fmt(tr.get('restore_best'))}"
        )
    mining = mn.get("strategy", "none")
    if mining in SCHEDULES:
        mining += (
            f" schedule (threshold {mn.get('threshold')}, growth {mn.get('growth')}, "
            f"midpoint {mn.get('midpoint')}, cycles {mn.get('cycles')})"
        )
    if mining != "none":
        mining += f", re-mined every {mn.get('refresh_every') or 'epoch'} " + (
            "steps" if mn.get("refresh_every") else ""
        )
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
        (
            "evaluation",
            f"{ev.get('n_way')}-way {ev.get('k_shot')}-shot, {ev.get('episodes')} episodes; "
            f"{ev.get('pairs')} pairs",
        ),
    ]
    out.append("<h3>Training</h3>" + h.key_values(rows))
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


def _times(run: RunFolder, times: dict[str, float] | None) -> list[tuple[str, Any]]:
    t = run.training
    epochs = [m for m in run.metrics if m["epoch"] > 0]
    per_epoch = float(np.mean([m.get("seconds", 0.0) for m in epochs])) if epochs else None
    rows: list[tuple[str, Any]] = [
        ("training (s)", t.get("seconds")),
        ("mean per epoch incl. validation (s)", None if per_epoch is None else round(per_epoch, 2)),
        (
            "convergence (best) epoch",
            t.get("best_epoch")
            if t.get("best_epoch") is not None
            else "no early stopping: last epoch",
        ),
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
