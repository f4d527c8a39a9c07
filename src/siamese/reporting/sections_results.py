"""Report sections about what came out: curves, the embedding over time, results, examples."""

from __future__ import annotations

from typing import Any

import numpy as np

from siamese.evaluation.model_evaluation import DEFAULT_N_WAY, fixed_subset
from siamese.evaluation.separation import cohens_d
from siamese.evaluation.verification import equal_error_rate, roc_auc
from siamese.reporting import html as h
from siamese.reporting.convergence import convergence_html
from siamese.reporting.figures_curves import (
    accuracy_figure,
    collapse_epochs,
    hardness_figure,
    loss_figure,
    spread_figure,
)
from siamese.reporting.figures_results import distance_figure, retrieval_figure, roc_figure
from siamese.reporting.pair_reasons import pair_measures, pair_reason
from siamese.reporting.run_data import RunData, example_pairs
from siamese.reporting.run_folder import RunFolder
from siamese.reporting.thumbnails import thumbnail

METRIC_COLUMNS = [
    ("train_loss", "train loss"),
    ("val_loss", "val loss"),
    ("val_accuracy", "val accuracy"),
    ("val_auc", "val AUC"),
    ("train_triplet_accuracy", "train triplet acc."),
    ("train_pair_accuracy", "train pair acc."),
    ("hardness_target", "hardness target"),
    ("hardness_achieved", "hardness achieved"),
    ("spread", "spread"),
    ("lr", "learning rate"),
    ("seconds", "seconds"),
]
PAIR_OBJECTIVES = ("koch_bce", "contrastive", "multi_similarity")  # tuple_kind "pairs"
EXAMPLE_KINDS = [
    ("correct_same", "Most confident correct: same class"),
    ("correct_different", "Most confident correct: different classes"),
    ("false_reject", "Worst mistakes: same class called different"),
    ("false_accept", "Worst mistakes: different classes called same"),
]


def novelty(run: RunFolder, split: str) -> str:
    """Whether a split's classes were trained on (items held out) or never seen."""
    classes = run.info.get("split_classes", {})
    if split not in classes or "train" not in classes:
        return "split as recorded in dataset.json"
    shared = set(classes[split]) & set(classes["train"])
    if not shared:
        return "classes never trained on"
    if len(shared) == len(classes[split]):
        return "items held out of the training classes"
    return f"{len(shared)} of its {len(classes[split])} classes also in training"


def threshold_rule(run: RunFolder, threshold: float) -> str:
    """The verification rule in the model's own terms: a distance bound, or a head probability."""
    if run.model.get("head"):
        return f"pair-head probability ≥ {h.fmt(threshold)}"
    distance = str(run.model.get("distance") or "").replace("_", " ")
    return f"{distance} distance ≤ {h.fmt(-threshold)}".strip()


def threshold_sentence(run: RunFolder) -> str:
    """Where the verification threshold came from, as evaluation.json records it."""
    t = run.evaluation.get("threshold")
    if t is None:
        return (
            "No verification threshold and no verification accuracy: the run had no validation "
            "split to choose a threshold on (ROC AUC and EER need none)."
        )
    return (
        f"A pair is called <i>same</i> when its {threshold_rule(run, t)}; that threshold was "
        f"chosen on validation pairs and gives verification accuracy "
        f"{h.fmt(run.evaluation.get('verification_accuracy'))} on the test pairs."
    )


def _training_tuples(run: RunFolder) -> str:
    cfg = run.config
    objective = (run.info.get("objective") or {}).get("name", "")
    kind = "pairs" if objective in PAIR_OBJECTIVES else "triplets"
    strategy = cfg.get("mining", {}).get("strategy", "none")
    sampling = cfg.get("sampling", {}).get("kind")
    if strategy != "none":
        return f"{strategy}-mined {kind} of the training batches"
    if sampling == "pk":
        return f"every valid {kind[:-1]} of each P x K training batch"
    return f"random {kind} of the training classes"


def loss_labels(run: RunFolder) -> tuple[str, str]:
    """Legend labels of the two loss curves, naming the tuples each is averaged over."""
    train = f"training loss ({_training_tuples(run)})"
    kind = "pairs" if "pairs" in train else "triplets"
    return train, f"validation loss (random {kind} of the validation classes)"


def loss_sentence(run: RunFolder) -> str:
    """Whether the two loss curves measure one quantity."""
    train, val = loss_labels(run)
    if not any(m.get("val_loss") is not None for m in run.metrics):
        return f"The loss curve is the {train}; the run had no validation loss."
    if "random" in train.split("(")[1]:
        return (
            f"Both loss curves average the objective over random tuples: the {train} and the "
            f"{val}; they differ only in the classes."
        )
    return (
        f"The two loss curves are different quantities: the {train}, chosen to be hard, and "
        f"the {val}, not mined; a training loss above the validation loss is expected."
    )


VAL_MAX_ITEMS = 2000  # the trainer's fixed validation subset


def val_n_way(run: RunFolder, data: RunData | None) -> int | None:
    """N of the validation episodes as the trainer ran them: the configured n_way capped at the
    validation classes with at least k_shot + 1 items (in the trainer's fixed subset)."""
    ev = run.config.get("evaluation", {})
    n_way, k = ev.get("n_way") or DEFAULT_N_WAY, int(ev.get("k_shot", 1))  # None: up to 5
    val = None if data is None else data.parts.get("val")
    if val is not None and len(val):
        idx = fixed_subset(len(val), VAL_MAX_ITEMS, int(run.config.get("seed", 0)))
        _, counts = np.unique(val.labels[idx], return_counts=True)
        return min(int(n_way), int((counts >= k + 1).sum()))
    split = run.dataset.get("splits", {}).get("val", {})
    if split.get("classes") and split.get("items_per_class", {}).get("min", 0) >= k + 1:
        return min(int(n_way), int(split["classes"]))
    return None


def curves_section(run: RunFolder, data: RunData | None = None) -> str:
    """Loss, accuracy, hardness and spread per epoch, and the per-epoch numbers as a table."""
    objective = (run.info.get("objective") or {}).get("name", "")
    n_way = val_n_way(run, data)
    out = []
    collapsed = collapse_epochs(run.metrics)
    if collapsed:
        reasons = {
            m["epoch"]: "; ".join(m.get("warnings", [])) for m in run.metrics if m.get("collapse")
        }
        out.append(
            h.note(
                "Embedding collapse warnings (dashed red lines in the curves): "
                + " | ".join(f"epoch {e}: {r}" for e, r in reasons.items()),
                warn=True,
            )
        )
    out.append(convergence_html(run, n_way))
    out.append(f"<p>{loss_sentence(run)}</p>")
    figs = [
        (loss_figure(run.metrics, objective, *loss_labels(run)), "loss per epoch"),
        (accuracy_figure(run.metrics, n_way), "accuracy per epoch"),
        (hardness_figure(run.metrics), "hardness schedule and achieved hardness"),
        (spread_figure(run.metrics), "embedding spread per epoch"),
    ]
    out.append(
        '<div class="grid">'
        + "".join(f"<div>{h.image(uri, alt)}</div>" for uri, alt in figs if uri)
        + "</div>"
    )
    best = run.training.get("best_epoch")
    cols = [
        (k, f"val {n_way}-way accuracy" if k == "val_accuracy" and n_way else label)
        for k, label in METRIC_COLUMNS
        if any(m.get(k) is not None for m in run.metrics)
    ]
    rows = [
        [
            m["epoch"],
            *[m.get(k) for k, _ in cols],
            "collapse" if m.get("collapse") else ("best" if m["epoch"] == best else ""),
        ]
        for m in run.metrics
    ]
    out.append("<h3>Per epoch</h3>")
    out.append(h.table(["epoch", *[label for _, label in cols], "note"], rows))
    return "".join(out)


def tar_at_far_table(ev: dict[str, Any]) -> str:
    """``evaluation.json["verification"]["tar_at_far"]`` as a table; nothing when absent."""
    ver = ev.get("verification") or {}
    tars = ver.get("tar_at_far")
    if not isinstance(tars, dict) or not tars:
        return ""
    impostors = ver.get("impostor_pairs")
    rows = []
    for far, tar in sorted(tars.items(), key=lambda kv: -float(kv[0])):
        short = "too few impostor pairs for this FAR"
        if impostors is not None:
            short += f" ({impostors:,} of the {round(1 / float(far)):,} needed)"
        rows.append([f"{float(far):g}", tar if tar is not None else short])
    counts = ""
    if ver.get("pairs") is not None and impostors is not None:
        counts = f" ({ver['pairs']:,} test pairs, {impostors:,} of them different-class)"
    return (
        "<h3>True accepts at fixed false accepts (test pairs)</h3>"
        + h.table(["false accept rate (FAR)", "true accept rate (TAR)"], rows)
        + "<p>TAR at a FAR: the share of same-class pairs accepted when the acceptance bound "
        "lets in at most that share of the different-class (impostor) pairs, as "
        f"evaluation.json records it{counts}.</p>"
    )


def results_section(run: RunFolder, data: RunData | None, note: str | None) -> str:
    """Headline test numbers from evaluation.json, the ROC and distance figures, retrieval."""
    ev = run.evaluation
    out = []
    if ev.get("accuracy") is not None:
        tiles = [
            (f"{ev.get('n_way')}-way {ev.get('k_shot')}-shot accuracy", ev["accuracy"]),
            ("± 95% interval", ev.get("accuracy_ci95")),
            ("ROC AUC", ev.get("auc")),
            ("EER", ev.get("eer")),
            ("verification accuracy", ev.get("verification_accuracy")),
            ("Cohen's d", ev.get("cohens_d")),
        ]
        out.append(h.metric_tiles([(k, v) for k, v in tiles if v is not None]))
        out.append(
            f"<p>On {h.fmt(ev.get('items'))} test items of {h.fmt(ev.get('classes'))} classes "
            f"({novelty(run, 'test')}), {h.fmt(ev.get('episodes'))} episodes. "
            f"{threshold_sentence(run)}</p>"
        )
        out.append(tar_at_far_table(ev))
    else:
        out.append(
            h.note(
                "No test evaluation recorded (evaluation.json has no accuracy): the run "
                "had no test split."
            )
        )
    if data is None:
        out.append(h.note(f"ROC curve, distance histograms, retrieval: {note}"))
        return "".join(out)
    if data.eval_name != "test":
        out.append(h.note("No test split: the figures below use the validation split."))
    if data.pairs is not None:
        ps = data.pairs
        auc, eer = roc_auc(ps["scores"], ps["same"]), equal_error_rate(ps["scores"], ps["same"])
        d = cohens_d(ps["distances"][ps["same"]], ps["distances"][~ps["same"]])
        recorded = ev.get("auc")
        if data.eval_name == "test" and recorded is not None and abs(recorded - auc) > 1e-6:
            out.append(
                h.note(
                    f"The curves below were recomputed now and give AUC {h.fmt(auc)}, while "
                    f"evaluation.json recorded {h.fmt(recorded)}: the data or the library changed "
                    "since the run was trained.",
                    warn=True,
                )
            )
        out.append(
            '<div class="grid">'
            f"<div>{h.image(roc_figure(ps['scores'], ps['same'], auc, eer), 'ROC curve')}</div>"
            f"<div>{h.image(distance_figure(ps['distances'], ps['same'], d, data.model.distance_name), 'distance histograms')}</div>"
            "</div>"
        )
    if data.retrieval is not None:
        r = data.retrieval
        out.append("<h3>Retrieval</h3>")
        out.append(
            '<div class="grid"><div>'
            + h.table(
                ["metric", "value"],
                [
                    *[[f"top-{k} accuracy", v] for k, v in sorted(r["top_k"].items())],
                    ["MAP@R", r["map_at_r"]],
                    ["queries", r["queries"]],
                ],
            )
            + f"</div><div>{h.image(retrieval_figure(r['top_k']), 'top-K accuracy')}</div></div>"
            + f"<p>Each {data.eval_name} item queries all the others; top-K: a same-class item is "
            "among the K nearest. MAP@R: mean average precision over the R nearest, R = the other "
            "items of the class.</p>"
        )
    return "".join(out)


def examples_section(run: RunFolder, data: RunData | None, note: str | None) -> str:
    """The most confident correct pairs and the worst mistakes, with their items and scores."""
    if data is None or data.pairs is None:
        return h.note(f"Examples left out: {note or 'no class with two items to pair'}")
    ps = data.pairs
    threshold = run.evaluation.get("threshold")
    source = "chosen on validation pairs"
    if threshold is None:
        threshold, source = float(np.median(ps["scores"])), "the median score (no validation split)"
    picks = example_pairs(ps, threshold, labels=data.eval_items.labels)
    ranges = channel_ranges(data) if data.eval_items.kind == "sequence" else None
    channels = run.dataset.get("meta", {}).get("channels")
    rule = threshold_rule(run, threshold)
    measures = pair_measures(data.eval_items, ps["left"], ps["right"])
    out = [
        f"<p>Pairs of {data.eval_name} items ({novelty(run, data.eval_name)}). A pair is called "
        f"<i>same</i> when its {rule} (threshold {source}). Beside each pair, what was measured: "
        "its score against the threshold"
        + (
            " and how its two items differ ("
            + ", ".join(measures.values)
            + "), against the median difference over all "
            + f"{len(ps['scores']):,} scored pairs"
            if measures.values
            else ""
        )
        + ".</p>"
    ]
    for key, title in EXAMPLE_KINDS:
        out.append(f"<h3>{h.esc(title)}</h3>")
        if not picks[key]:
            out.append("<p>None: the model made no such call.</p>")
            continue
        out.append(
            '<div class="pairs">'
            + "".join(
                _pair_html(
                    data,
                    ps,
                    i,
                    channels,
                    ranges,
                    _reason(measures, ps, i, threshold, data.model.head is not None),
                )
                for i in picks[key]
            )
            + "</div>"
        )
    return "".join(out)


def channel_ranges(data: RunData) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel 1st and 99th percentiles over the evaluation items: every series thumbnail
    shares them (values beyond are clipped), so amplitudes compare across items and one spike
    does not flatten the rest."""
    x = data.eval_items.load(np.arange(min(len(data.eval_items), 500)))
    x = x.reshape(-1, x.shape[-1]) if x.ndim >= 2 else x[:, None]
    return np.percentile(x, 1, axis=0), np.percentile(x, 99, axis=0)


def _reason(measures: Any, ps: dict[str, np.ndarray], i: int, threshold: float, head: bool) -> str:
    a, b = int(ps["left"][i]), int(ps["right"][i])
    return pair_reason(measures, a, b, float(ps["scores"][i]), threshold, head=head)


def _pair_html(
    data: RunData,
    ps: dict[str, np.ndarray],
    i: int,
    channels: Any,
    ranges: Any = None,
    reason: str = "",
) -> str:
    items = data.eval_items
    sides = []
    for pos in (int(ps["left"][i]), int(ps["right"][i])):
        x = items.load(np.array([pos]))[0]
        length = None if items.lengths is None else int(items.lengths[pos])
        name = items.class_names[items.labels[pos]]
        sides.append((thumbnail(x, items.kind, length, channels, ranges), name, items.sources[pos]))
    imgs = "".join(f'<img src="{u}" alt="{h.esc(n)}" title="{h.esc(s)}">' for u, n, s in sides)
    score = f"similarity {h.fmt(float(ps['scores'][i]))}, " if data.model.head is not None else ""
    cap = (
        f"<b>{h.esc(sides[0][1])}</b> vs <b>{h.esc(sides[1][1])}</b><br>{score}"
        f"distance {h.fmt(float(ps['distances'][i]))}"
    )
    if reason:
        cap += f"<br>measured: {h.esc(reason)}"
    return f'<div class="pair"><div class="items">{imgs}</div><div class="cap">{cap}</div></div>'
