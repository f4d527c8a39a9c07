"""The task itself: test episodes as query / support / answer, per-class accuracy, the
confusion matrix, and baselines scored on the very same episodes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from siamese.reporting import html as h
from siamese.reporting._plot import figure, to_data_uri
from siamese.reporting.baseline_dtw import dtw_episodes, unpadded_inputs
from siamese.reporting.episodes import Episodes, raw_features, replay_episodes, untrained_copy
from siamese.reporting.run_data import RunData
from siamese.reporting.run_folder import RunFolder
from siamese.reporting.sections_results import channel_ranges
from siamese.reporting.thumbnails import thumbnail

SHOW_EPISODES = 4  # episodes drawn in full (wrong answers first)
SHOW_SUPPORT = 10  # supports drawn per episode at most
MAX_CONFUSION = 30  # more test classes: per-class accuracy only


def task_section(run: RunFolder, data: RunData | None, note: str | None) -> str:
    """The N-way episodes of evaluation.json replayed, broken down and compared to baselines."""
    ev = run.evaluation
    if data is None or data.eval_name != "test" or not ev.get("n_way"):
        return h.note(f"Episodes left out: {note or 'no test evaluation recorded'}")
    cfg = run.config
    seed = int(cfg.get("seed", 0))
    args = {
        "n_way": int(ev["n_way"]),
        "k_shot": int(ev["k_shot"]),
        "episodes": int(ev["episodes"]),
        "seed": seed,
    }
    labels = data.eval_items.labels
    eps = replay_episodes(data.embeddings, labels, data.model.distance, **args)
    out = []
    if abs(eps.accuracy - float(ev["accuracy"])) > 1e-9:
        out.append(
            h.note(
                f"The replayed episodes give accuracy {h.fmt(eps.accuracy)}, evaluation.json "
                f"recorded {h.fmt(ev['accuracy'])}: the data or the library changed since.",
                warn=True,
            )
        )
    out.append(
        f"<p>{args['episodes']} episodes of {args['n_way']}-way {args['k_shot']}-shot on "
        f"{len(data.eval_items)} test items, replayed with the evaluation's seed: each query is "
        "given the class of its nearest support item (a tie is no answer).</p>"
    )
    out.append("<h3>Baselines on the same episodes</h3>" + _baselines(run, data, eps, args))
    out.append("<h3>Episodes</h3>" + _episodes_html(run, data, eps))
    out.append("<h3>Per test class</h3>" + _per_class(data, eps))
    return "".join(out)


def _baselines(run: RunFolder, data: RunData, eps: Episodes, args: dict[str, Any]) -> str:
    labels = data.eval_items.labels
    items = data.eval_items.load(np.arange(len(data.eval_items)))
    n = args["n_way"]
    rows = [["the trained model", eps.accuracy, "embedding, " + data.model.distance_name]]
    lengths = data.eval_items.lengths
    raw = replay_episodes(raw_features(data.model, items, lengths), labels, "euclidean", **args)
    rows.append(["1-NN on the raw (normalised) inputs", raw.accuracy, "euclidean on inputs"])
    if data.eval_items.kind == "sequence":
        dtw = dtw_episodes(unpadded_inputs(data.model, items, lengths), labels, **args)
        rows.append(
            [
                "1-NN DTW on the raw (normalised) inputs",
                None if dtw.episodes is None else dtw.episodes.accuracy,
                "DTW, full warping (dtaidistance), "
                + (f"{dtw.cells:,} cells" if dtw.episodes is not None else dtw.why),
            ]
        )
    fresh = untrained_copy(data.model, args["seed"])
    emb = fresh.embed_dataset(data.eval_items)
    untrained = replay_episodes(emb, labels, fresh.distance, **args)
    rows.append(["the same encoder, untrained", untrained.accuracy, data.model.distance_name])
    rows.append(["chance", 1.0 / n, f"1 / {n}"])
    g = run.evaluation.get("gallery_1nn_accuracy")
    text = ""
    if g is not None:
        rows.append(["1-NN against the TRAIN items (evaluation.json)", g, "recorded"])
        text = (
            "<p>The 1-NN-against-TRAIN figure classifies each test item by its nearest training "
            "item: the protocol's own task when the test items are of the training classes.</p>"
        )
    return h.table(["classifier", f"{n}-way accuracy", "compares"], rows) + text


def _episodes_html(run: RunFolder, data: RunData, eps: Episodes) -> str:
    items, names = data.eval_items, data.eval_items.class_names
    channels = run.dataset.get("meta", {}).get("channels")
    ranges = channel_ranges(data) if items.kind == "sequence" else None
    right = eps.pred == eps.query_cls  # (E, N)
    wrong_first = sorted(range(len(eps.pred)), key=lambda e: (bool(right[e].all()), e))
    blocks = []
    for e in wrong_first[:SHOW_EPISODES]:
        j = int(np.argmin(right[e])) if not right[e].all() else 0  # a wrong query if any
        q, t, p = int(eps.query[e, j]), int(eps.query_cls[e, j]), int(eps.pred[e, j])

        def pic(pos: int) -> str:
            x = items.load(np.array([pos]))[0]
            length = None if items.lengths is None else int(items.lengths[pos])
            return thumbnail(x, items.kind, length, channels, ranges)

        sup = []
        for s, c in list(zip(eps.support[e], eps.support_cls[e], strict=True))[:SHOW_SUPPORT]:
            mark = "pred" if int(c) == p else ""
            sup.append(
                f'<figure class="{mark}"><img src="{pic(int(s))}" alt="support">'
                f"<figcaption>{h.esc(names[int(c)])}</figcaption></figure>"
            )
        verdict = "right" if p == t else "wrong"
        answer = names[p] if p >= 0 else "no answer (a tie)"
        measured = _nearest_by_class(data, q, eps.support[e], eps.support_cls[e], names)
        blocks.append(
            f'<div class="episode {verdict}"><figure><img src="{pic(q)}" alt="query">'
            f"<figcaption>query: {h.esc(names[t])}</figcaption></figure>"
            f'<div class="support">{"".join(sup)}</div>'
            f"<p>episode {e + 1}: predicted <b>{h.esc(answer)}</b>, true {h.esc(names[t])}: "
            f"<b>{verdict}</b>. Measured: the query's distance to the nearest support of each "
            f"class: {h.esc(measured)}.</p></div>"
        )
    return (
        f"<p>{len(blocks)} of the episodes, those with a wrong answer first; the predicted "
        "support is outlined.</p>" + "".join(blocks)
    )


def _nearest_by_class(
    data: RunData, query: int, support: np.ndarray, support_cls: np.ndarray, names: list[str]
) -> str:
    """``class d, ...`` nearest first: the query's distance to each class's nearest support."""
    emb = torch.as_tensor(data.embeddings, dtype=torch.float32)
    d = data.model.distance.matrix(emb[[query]], emb[np.asarray(support)])[0].numpy()
    per = {int(c): float(d[support_cls == c].min()) for c in np.unique(support_cls)}
    return ", ".join(f"{names[c]} {h.fmt(v)}" for c, v in sorted(per.items(), key=lambda kv: kv[1]))


def _per_class(data: RunData, eps: Episodes) -> str:
    names = data.eval_items.class_names
    per = eps.per_class()
    rows = [
        [names[c], r / a, r, a]
        for c, (r, a) in sorted(per.items(), key=lambda kv: kv[1][0] / kv[1][1])
    ]
    out = h.table(["test class", "accuracy", "right", "queries"], rows)
    classes = np.array(sorted(per))
    if len(classes) <= MAX_CONFUSION:
        out += h.image(
            confusion_figure(eps.confusion(classes), [names[c] for c in classes]),
            "confusion matrix of the test episodes",
        )
    else:
        out += h.note(
            f"Confusion matrix left out: {len(classes)} test classes (> {MAX_CONFUSION})."
        )
    return out


def confusion_figure(counts: np.ndarray, names: list[str]) -> str:
    """Rows: true class; columns: predicted class, and a last column for ties (no answer)."""
    c = len(names)
    fig, ax = figure(max(3.5, 0.35 * c + 2.0), max(3.0, 0.32 * c + 1.5))
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    if c <= 12:
        for i in range(c):
            for j in range(c + 1):
                if counts[i, j]:
                    colour = "white" if share[i, j] > 0.6 else "black"
                    ax.text(
                        j, i, str(counts[i, j]), ha="center", va="center", fontsize=7, color=colour
                    )
    ax.set_xticks(range(c + 1), [*names, "tie"], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(c), names, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Test queries:\ntrue vs predicted class")
    ax.grid(False)
    return to_data_uri(fig)
