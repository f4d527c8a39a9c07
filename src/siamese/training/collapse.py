"""Detection of embedding collapse: everything mapped to (nearly) one point, or nothing learnt.

Collapse is measured on the training batches themselves, on every run and for every objective,
so a run without a validation split is watched as closely as one with. Each step records, from the
batch's own embeddings (no extra forward pass): their spread (mean per-dimension standard
deviation), the mean distance of same-class pairs ``d_pos`` and of different-class pairs ``d_neg``
under the model's distance, the loss, and the loss the objective gives when every embedding is the
batch mean (``loss_const``: the value of a model that tells nothing apart, e.g. the triplet margin).
Over a window of steps a run has collapsed when either

- its spread fell below ``spread_ratio`` x the spread of the untrained model AND classes are no
  better apart than in the untrained model (``d_neg / d_pos`` under ``separation`` x its value
  then), or
- after a warm-up, the loss was never better than ``loss_const`` by more than ``tolerance`` x the
  margin (x ``loss_const`` for losses without a margin) over the whole window, AND either
  ``d_neg / d_pos`` is under ``separation`` or the spread fell below 4 x ``spread_ratio`` of its
  start.

The validation-embedding spread and the share of triplets exactly at the margin are still checked
when a run has them.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
import torch

WINDOW = 20  # steps a decision is taken over
MAX_PAIRS_ITEMS = 256  # batch items whose pairwise distances are measured each step


def batch_stats(
    emb: torch.Tensor,  # (U, D)
    labels: torch.Tensor,  # (U,)
    distance: Any,
    objective: Any,
    tuples: tuple | None,
    head: Any,
    loss: float,
) -> dict[str, float]:
    """The per-step figures the monitor reads, from one training batch's embeddings."""
    with torch.no_grad():
        e = emb.detach().float()
        out = {"spread": float(e.std(dim=0).mean()) if len(e) > 1 else 0.0, "loss": float(loss)}
        sub, lab = e[:MAX_PAIRS_ITEMS], labels[:MAX_PAIRS_ITEMS]
        d = distance.matrix(sub, sub)  # (u, u)
        same = lab[:, None] == lab[None, :]
        off = ~torch.eye(len(sub), dtype=torch.bool, device=sub.device)
        pos, neg = d[same & off], d[~same]
        if pos.numel() and neg.numel():
            out["d_pos"], out["d_neg"] = float(pos.mean()), float(neg.mean())
        kept = objective.last_stats  # the constant-embedding loss must not overwrite them
        const = e.mean(dim=0, keepdim=True).expand_as(e)
        out["loss_const"] = float(objective(const, labels, tuples, head=head))
        objective.last_stats = kept
    return out


class CollapseDetector:
    """Watches training batches (every run) and validation embeddings (when there are any).

    Args:
        margin: the objective's margin (None: the loss has none); the loss tolerance is relative
            to it.
        spread_ratio: spread below this share of the untrained model's flags a collapse.
        separation: ``d_neg / d_pos`` under this counts as "classes not separated".
        tolerance: the loss within ``tolerance x margin`` of the no-information loss is "pinned".
        window: steps a decision is taken over.
        warmup: steps before the pinned-loss check applies (the untrained model sits there too).
        at_margin: share of triplets exactly at the margin that flags a collapse.
    """

    def __init__(
        self,
        margin: float | None = None,
        *,
        spread_ratio: float = 0.05,
        separation: float = 1.1,
        tolerance: float = 0.05,
        window: int = WINDOW,
        warmup: int = WINDOW,
        at_margin: float = 0.9,
    ):
        self.margin = margin
        self.spread_ratio, self.separation, self.tolerance = spread_ratio, separation, tolerance
        self.window, self.warmup, self.at_margin = int(window), int(warmup), at_margin
        self.initial_spread: float | None = None  # validation embeddings before training
        self.initial: dict[str, float] | None = None  # the first training batch, before a step
        self.recent: deque[dict[str, float]] = deque(maxlen=self.window)
        self.steps = 0

    @staticmethod
    def spread(embeddings: np.ndarray) -> float:
        return float(np.asarray(embeddings).std(axis=0).mean()) if len(embeddings) > 1 else 0.0

    # ------------------------------------------------------------------ training batches
    def observe(self, stats: dict[str, float]) -> None:
        """Record one training step's ``batch_stats``."""
        self.steps += 1
        if self.initial is None:
            self.initial = dict(stats)
        self.recent.append(dict(stats))

    def reset_window(self) -> None:
        """Forget the recent steps (after a roll-back: they belong to the collapsed model)."""
        self.recent.clear()

    def window_figures(self) -> dict[str, float]:
        """Medians of the recent steps (what the decision reads, recorded in metrics.jsonl)."""
        out: dict[str, float] = {}
        for key in ("spread", "d_pos", "d_neg", "loss", "loss_const"):
            vals = [s[key] for s in self.recent if key in s and math.isfinite(s[key])]
            if vals:
                out[key] = float(np.median(vals))
        return out

    def _batch_reasons(self) -> list[str]:
        if len(self.recent) < min(self.window, 5) or self.initial is None:
            return []
        w = self.window_figures()
        reasons = []
        sep = w["d_neg"] / w["d_pos"] if w.get("d_pos", 0) > 0 and "d_neg" in w else None
        i = self.initial
        sep0 = i["d_neg"] / i["d_pos"] if i.get("d_pos", 0) > 0 and "d_neg" in i else 1.0
        # classes no better apart (relative to the distances' scale) than the untrained model's
        unseparated = sep is None or sep < max(self.separation, self.separation * sep0)
        s0, s = i.get("spread", 0.0), w.get("spread", 0.0)
        sep_text = "n/a" if sep is None else f"{sep:.2f}"
        if s0 > 0 and s < self.spread_ratio * s0 and unseparated:
            reasons.append(
                f"training-batch embedding spread fell to {s:.3g} ({s / s0:.1%} of the untrained "
                f"model's {s0:.3g}) and classes are not separated (d_neg/d_pos {sep_text}, "
                f"untrained {sep0:.2f})"
            )
        const, loss = w.get("loss_const"), w.get("loss")
        if self.steps > self.warmup and const is not None and loss is not None:
            scale = self.margin if self.margin else abs(const)
            gains = [s_["loss_const"] - s_["loss"] for s_ in self.recent if "loss_const" in s_]
            shrunk = s0 > 0 and s < 4 * self.spread_ratio * s0
            pinned = scale > 0 and gains and max(gains) <= self.tolerance * scale
            flat = sep is None or sep < self.separation  # same- and different-class alike
            if pinned and (flat or shrunk) and not reasons:
                what = f"the margin {self.margin:g}" if self.margin else f"{const:.4g}"
                reasons.append(
                    f"for {len(gains)} steps the loss ({loss:.4g}) was no better than {what}, the "
                    f"loss of a model that maps everything to one point; spread {s:.3g} "
                    f"({s / s0 if s0 else float('nan'):.1%} of the untrained model's), d_pos "
                    f"{w.get('d_pos', float('nan')):.3g} vs d_neg {w.get('d_neg', float('nan')):.3g}"
                )
        return reasons

    def clearly_healthy(self) -> bool:
        """Whether the recent steps are far from collapse (a state worth rolling back to): their
        spread is at least 4 x ``spread_ratio`` of the untrained model's."""
        if self.initial is None or not self.recent:
            return True
        s0 = self.initial.get("spread", 0.0)
        return s0 <= 0 or self.window_figures().get("spread", s0) >= 4 * self.spread_ratio * s0

    # ------------------------------------------------------------------ the decision
    def check(self, embeddings: np.ndarray | None, train_stats: dict[str, Any]) -> list[str]:
        """Return the reasons for a collapse warning (empty when all is well).

        Args:
            embeddings: validation embeddings of this epoch (None: no validation split).
            train_stats: the epoch's mean objective statistics (``at_margin_fraction``...).
        """
        reasons = self._batch_reasons()
        if embeddings is not None and len(embeddings) > 1:
            s = self.spread(embeddings)
            if self.initial_spread is None:
                self.initial_spread = s
            elif self.initial_spread > 0 and s < self.spread_ratio * self.initial_spread:
                reasons.append(
                    f"validation embedding spread {s:.3g} fell below {self.spread_ratio:g} x its "
                    f"initial {self.initial_spread:.3g}"
                )
        frac = train_stats.get("at_margin_fraction")
        if frac is not None and frac > self.at_margin:
            reasons.append(f"{frac:.0%} of triplets sit at the margin (d(a,p) = d(a,n))")
        return reasons

    def state_dict(self) -> dict[str, Any]:
        return {
            "initial_spread": self.initial_spread,
            "initial": self.initial,
            "recent": list(self.recent),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.initial_spread = state.get("initial_spread")
        self.initial = state.get("initial")
        self.recent = deque(state.get("recent", []), maxlen=self.window)
        self.steps = int(state.get("steps", 0))


def collapse_advice(objective: str, mining: str | None) -> str:
    """What to try when a run collapsed: the fixes that address the causes we know of."""
    tips = [
        "lower training.learning_rate (e.g. 10x)",
        'keep training.on_collapse = "recover" (roll back, restart easy, raise hardness along '
        "a schedule)",
    ]
    if mining in ("batch_hard", "hardest", "semi_hard"):
        tips.insert(
            0, 'use [mining] strategy = "scheduled" (easy triplets first) instead of ' + mining
        )
    if objective in ("triplet", "contrastive"):
        tips.append('set objective.margin = "auto" (a margin measured in the embedding space)')
    tips.append("check the input normalisation (data.normalise) and that classes differ at all")
    return "; ".join(tips)


def collapse_summary(history: list[dict[str, Any]], stopped_reason: str) -> dict[str, Any]:
    """What a run's records say about collapse: for evaluation.json, the report and the CLI.

    ``state`` is ``healthy`` (never flagged), ``recovered`` (flagged, rolled back, and the last
    epoch is healthy), ``collapsed`` (the run stopped by, or ended in, a collapse) or
    ``warned`` (flagged with on_collapse = warn, and the last epoch healthy).
    """
    flagged = [r for r in history if r.get("collapse")]
    recoveries = [r["recovery"] for r in history if r.get("recovery")]
    last = history[-1] if history else {}
    if not flagged:
        state = "healthy"
    elif stopped_reason == "collapse" or (last.get("collapse") and not last.get("recovery")):
        state = "collapsed"
    elif recoveries:
        state = "recovered"
    else:
        state = "warned"
    return {
        "state": state,
        "epochs": [int(r["epoch"]) for r in flagged],
        "reasons": {str(r["epoch"]): r.get("warnings", []) for r in flagged},
        "recoveries": recoveries,
    }
