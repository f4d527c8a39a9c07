"""How far an export (fp16, int8, or a pruned model's) is from the float32 library model, on the
run's own test items: the cosine similarity of each item's two embeddings, and the run's
evaluation (one-shot accuracy, verification AUC and accuracy) computed on each model's embeddings
by the same code (``evaluate_model``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from siamese.evaluation.model_evaluation import evaluate_model, fixed_subset

CHECK_ITEMS = 1000  # test items the comparison embeds (and validation items, for the threshold)
KEPT = ("accuracy", "accuracy_ci95", "n_way", "auc", "eer", "verification_accuracy")


def compare_with_library(
    export: Any,
    library: Any,
    parts: dict[str, Any],
    evaluation: Any,
    seed: int,
    *,
    max_items: int = CHECK_ITEMS,
) -> dict[str, Any]:
    """Embedding agreement and evaluation of ``export`` against ``library`` on the test split.

    Args:
        export, library: models with ``embed_dataset`` / ``similarity`` / ``distance``
            (``OnnxModel``, ``SiameseModel``).
        parts: the run's splits (``load_splits``); the test split is used, else validation.
        evaluation: the run's ``[evaluation]`` settings (n_way, k_shot, episodes, pairs).
        seed: the run's seed (the same episodes and pairs for both models).
        max_items: the most items embedded from each split.

    Returns:
        ``{"split", "items", "cosine_mean", "cosine_min", "library": {...}, "export": {...},
        "accuracy_change", "auc_change"}`` (changes: export minus library, in points for
        accuracy); ``{}`` when the run has no test or validation items.
    """
    name = next((k for k in ("test", "val") if len(parts.get(k) or [])), None)
    if name is None:
        return {}
    split = parts[name]
    idx = fixed_subset(len(split), max_items, seed)
    sub = split.subset(idx)
    want = library.embed_dataset(sub)  # (n, D)
    got = export.embed_dataset(sub)  # (n, D)
    num = (want * got).sum(1)
    den = np.linalg.norm(want, axis=1) * np.linalg.norm(got, axis=1)
    cos = num / np.maximum(den, 1e-12)  # (n,)
    val = parts.get("val") if name == "test" else None
    settings = {
        "n_way": evaluation.n_way,
        "k_shot": evaluation.k_shot,
        "episodes": evaluation.episodes,
        "pairs": evaluation.pairs,
        "seed": seed,
        "max_items": max_items,
    }
    lib = evaluate_model(library, split, val=val, **settings)
    exp = evaluate_model(export, split, val=val, **settings)
    out: dict[str, Any] = {
        "split": name,
        "items": int(len(idx)),
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
        "library": {k: lib[k] for k in KEPT if k in lib},
        "export": {k: exp[k] for k in KEPT if k in exp},
    }
    if "accuracy" in lib and "accuracy" in exp:
        out["accuracy_change"] = round(100 * (exp["accuracy"] - lib["accuracy"]), 2)
    if "auc" in lib and "auc" in exp:
        out["auc_change"] = float(exp["auc"] - lib["auc"])
    return out
