"""The encoder as a table of layers, and prediction times measured on the report's machine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass
class LayerRow:
    """One leaf layer: its dotted name, type, output shape (batch of 1) and own parameters."""

    name: str
    kind: str
    output_shape: str
    params: int
    trainable: int


def _shape(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return str(tuple(out.shape))
    if isinstance(out, (tuple, list)) and out:
        return _shape(out[0])  # e.g. LSTM -> (output, (h, c)): the sequence output
    if hasattr(out, "data") and isinstance(out.data, torch.Tensor):  # PackedSequence
        return f"packed {tuple(out.data.shape)}"
    return "-"


def layer_table(model: nn.Module, item_shape: tuple[int, ...]) -> list[LayerRow]:
    """Run one dummy item through ``model`` with forward hooks on every leaf module.

    Args:
        model: the ``SiameseModel`` (its ``encoder`` is what gets tabulated).
        item_shape: the shape of one input item.

    Returns:
        One row per leaf module of the encoder in call order (modules never called, such as a
        pair head, come last with output ``-``).
    """
    encoder = getattr(model, "encoder", model)
    rows: dict[str, LayerRow] = {}
    hooks = []
    for name, module in encoder.named_modules():
        if any(True for _ in module.children()):
            continue
        own = list(module.parameters(recurse=False))
        row = LayerRow(
            name or type(module).__name__,
            type(module).__name__,
            "-",
            sum(p.numel() for p in own),
            sum(p.numel() for p in own if p.requires_grad),
        )

        def hook(_m: nn.Module, _inp: Any, out: Any, row: LayerRow = row, key: str = name) -> None:
            row.output_shape = _shape(out)
            rows.setdefault(key, row)  # first call wins: call order

        hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *item_shape))  # (1, *item_shape) -> (1, D)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    called = list(rows.values())
    seen = {r.name for r in called}
    rest = [
        LayerRow(
            n,
            type(m).__name__,
            "-",
            sum(p.numel() for p in m.parameters(recurse=False)),
            sum(p.numel() for p in m.parameters(recurse=False) if p.requires_grad),
        )
        for n, m in encoder.named_modules()
        if not any(True for _ in m.children()) and (n or type(m).__name__) not in seen
    ]
    return called + rest


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameters of the whole model (encoder and any pair head)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def prediction_times(
    model: Any,
    items: np.ndarray,
    lengths: np.ndarray | None = None,
    *,
    gallery: int = 100,
    repeats: int = 5,
) -> dict[str, float]:
    """Milliseconds to score one pair and to answer one query, measured now on this machine.

    Per pair: embed a batch of pairs (both sides) and compare them, divided by the number of
    pairs (the batched cost). Per query: embed one item and compare it with a gallery of
    ``gallery`` stored embeddings (the interactive cost). Each is the median of ``repeats``,
    on one CPU thread.

    Args:
        model: a ``SiameseModel``.
        items: ``(B, *item_shape)`` raw items to time with (B >= 2).
        lengths: their true lengths, for variable-length sequences.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: stable on a busy machine, comparable between runs
    try:
        return _time_predictions(model, items, lengths, gallery, repeats)
    finally:
        torch.set_num_threads(threads)


def _time_predictions(
    model: Any, items: np.ndarray, lengths: np.ndarray | None, gallery: int, repeats: int
) -> dict[str, float]:
    x = torch.as_tensor(items)
    lens = None if lengths is None else torch.as_tensor(lengths)
    half = len(x) // 2
    stored = model.embed(x, lens)  # (B, D)
    gal = stored[torch.arange(gallery) % len(stored)]  # (gallery, D)
    model.embed(x[:1], None if lens is None else lens[:1])  # warm-up

    def pairs() -> None:
        e = model.embed(x[: 2 * half], None if lens is None else lens[: 2 * half])
        model.similarity(e[:half], e[half : 2 * half])

    def query() -> None:
        q = model.embed(x[:1], None if lens is None else lens[:1])  # (1, D)
        model.similarity(q.expand(len(gal), -1), gal)

    return {
        "ms_per_pair": _median_ms(pairs, repeats) / max(half, 1),
        "pairs_per_batch": half,
        "ms_per_query": _median_ms(query, repeats),
        "gallery_size": gallery,
    }


def _median_ms(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)
