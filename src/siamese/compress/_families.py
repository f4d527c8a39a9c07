"""How each encoder family is cut down: which channels or units of each layer stay, the smaller
encoder arguments that describe the result, and the old tensors cut to those shapes.

Each function takes the encoder, its arguments and the pruned fraction and returns ``(args, state,
embedding_kept, log)``: the new encoder arguments (``channels``, ``hidden``, ``hidden_size``,
``dense``, ``embedding_dim``), its state dict, the indices of the embedding's dimensions that stay
(None: all of them) and the cuts made (``StateCut.log``).
``create_encoder(name, **args).load_state_dict(state, strict=True)`` rebuilds it.

Channels are ranked by the L2 norm of their weights (``ln_structured``); a channel followed by a
batch norm by the norm of its weights as that batch norm scales them in eval mode. The
embedding's own units (the last layer's rows) are pruned too unless ``keep_embedding``; with a
pair head their norm is weighted by the head's weight on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from siamese.compress._cut import StateCut, bn_folded, flat_columns, keep_by_norm, n_kept
from siamese.errors import ConfigError

Result = tuple[dict[str, Any], dict[str, torch.Tensor], torch.Tensor | None, list]


def _embedding_rows(
    cut: StateCut,
    layer: str,
    amount: float,
    keep_embedding: bool,
    head_weight: torch.Tensor | None,
) -> torch.Tensor | None:
    """Prune the rows of the embedding layer ``layer``; the kept indices (None: all stay)."""
    if keep_embedding:
        return None
    w = cut.state[f"{layer}.weight"]
    if head_weight is not None:
        w = w * head_weight[: len(w), None].abs()  # what each unit weighs in the head's L1
    kept = keep_by_norm(w, n_kept(len(w), amount))
    cut.outputs(layer, kept)
    return kept


def _embedding_layer(
    cut: StateCut,
    layer: str,
    new: dict[str, Any],
    amount: float,
    keep_embedding: bool,
    head_weight: torch.Tensor | None,
) -> Result:
    """Prune the embedding layer's rows (unless ``keep_embedding``) and finish the result."""
    kept = _embedding_rows(cut, layer, amount, keep_embedding, head_weight)
    if kept is not None:
        new["embedding_dim"] = len(kept)
    return new, cut.state, kept, cut.log


def _layer_stack(
    cut: StateCut,
    layers: list[tuple[str, str | None]],
    first_inputs: torch.Tensor | None,
    amount: float,
) -> tuple[list[int], torch.Tensor | None]:
    """Layers (conv or linear) in a chain, ``[(name, batch norm or None), ...]`` (the layer after
    the last reads their output): output channels pruned by norm, each next layer's inputs cut
    to match.

    Returns:
        The new widths of the layers, and the kept outputs of the last one (the inputs of the
        layer after it, still to cut; ``first_inputs`` when there is no layer).
    """
    widths, prev = [], first_inputs
    for name, bn in layers:
        if prev is not None:
            cut.inputs(name, prev)
        w = cut.state[f"{name}.weight"]
        importance = w if bn is None else bn_folded(w, cut.state, bn)
        kept = keep_by_norm(importance, n_kept(len(w), amount))
        cut.outputs(name, kept)
        if bn is not None:
            cut.batch_norm(bn, kept)
        widths.append(len(kept))
        prev = kept
    return widths, prev


def _head_linears(head: nn.Sequential, prefix: str) -> tuple[list[str], str]:
    """The names of a dense head's hidden linear layers and of its last (embedding) layer."""
    names = [f"{prefix}.{i}" for i, m in enumerate(head) if isinstance(m, nn.Linear)]
    return names[:-1], names[-1]


def conv4(
    enc: nn.Module, args: dict[str, Any], amount: float, keep_embedding: bool, head_w
) -> Result:
    cut = StateCut(enc.state_dict())
    convs = [f"features.{i}" for i, m in enumerate(enc.features) if isinstance(m, nn.Conv2d)]
    has_fc = isinstance(enc.fc, nn.Linear)
    layers = [(c, f"features.{int(c.split('.')[1]) + 1}") for c in convs]
    full = int(enc.features[int(convs[-1].split(".")[1])].out_channels)
    if not has_fc and keep_embedding:  # the last block's maps are the embedding: it stays whole
        widths, prev = _layer_stack(cut, layers[:-1], None, amount)
        cut.inputs(convs[-1], prev)
        return {**args, "channels": [*widths, full]}, cut.state, None, cut.log
    widths, prev = _layer_stack(cut, layers, None, amount)
    new = {**args, "channels": widths}
    if not has_fc:  # the flattened maps are the embedding
        return new, cut.state, flat_columns(prev, int(enc.embedding_dim) // full), cut.log
    cut.inputs("fc", flat_columns(prev, int(enc.fc.in_features) // full))
    return _embedding_layer(cut, "fc", new, amount, keep_embedding, head_w)


def koch_cnn(
    enc: nn.Module, args: dict[str, Any], amount: float, keep_embedding: bool, head_w
) -> Result:
    cut = StateCut(enc.state_dict())
    mods = list(enc.features)
    layers = [
        (f"features.{i}", f"features.{i + 1}" if isinstance(mods[i + 1], nn.BatchNorm2d) else None)
        for i, m in enumerate(mods)
        if isinstance(m, nn.Conv2d)
    ]
    widths, prev = _layer_stack(cut, layers, None, amount)
    full = int(mods[int(layers[-1][0].split(".")[1])].out_channels)
    cut.inputs("fc", flat_columns(prev, int(enc.fc.in_features) // full))
    return _embedding_layer(cut, "fc", {**args, "channels": widths}, amount, keep_embedding, head_w)


def mlp(
    enc: nn.Module, args: dict[str, Any], amount: float, keep_embedding: bool, head_w
) -> Result:
    cut = StateCut(enc.state_dict())
    mods = list(enc.net)
    linears = [i for i, m in enumerate(mods) if isinstance(m, nn.Linear)]
    hidden = [
        (f"net.{i}", f"net.{i + 1}" if isinstance(mods[i + 1], nn.BatchNorm1d) else None)
        for i in linears[:-1]
    ]
    widths, cols = _layer_stack(cut, hidden, None, amount)
    last = f"net.{linears[-1]}"
    if cols is not None:
        cut.inputs(last, cols)
    return _embedding_layer(cut, last, {**args, "hidden": widths}, amount, keep_embedding, head_w)


def conv1d(
    enc: nn.Module, args: dict[str, Any], amount: float, keep_embedding: bool, head_w
) -> Result:
    cut = StateCut(enc.state_dict())
    prev, widths = None, []
    for s, stage in enumerate(enc.stages):
        p = f"stages.{s}"
        names = [f"{p}.convs.{j}" for j in range(len(stage.convs))]
        keep = n_kept(stage.convs[-1].conv.out_channels, amount)
        block_in = prev
        layers = [(f"{n}.conv", f"{n}.bn") for n in names]
        if not stage.residual:
            _, prev = _layer_stack(cut, layers, prev, amount)
        else:  # the block's output is chosen with the shortcut below
            _, inner = _layer_stack(cut, layers[:-1], prev, amount)
            if inner is not None:
                cut.inputs(layers[-1][0], inner)
        if stage.residual:  # y + shortcut(x): the two share their output channels
            sc = f"{p}.shortcut"
            if block_in is not None:
                cut.inputs(f"{sc}.conv", block_in)
            last = names[-1]
            both = bn_folded(cut.state[f"{last}.conv.weight"], cut.state, f"{last}.bn").flatten(1)
            both = torch.cat(
                [both, bn_folded(cut.state[f"{sc}.conv.weight"], cut.state, f"{sc}.bn").flatten(1)],
                1,
            )
            prev = keep_by_norm(both, keep)
            for name in (last, sc):
                cut.outputs(f"{name}.conv", prev)
                cut.batch_norm(f"{name}.bn", prev)
        widths.append(len(prev))
    full = int(enc.stages[-1].convs[-1].conv.out_channels)
    cols = prev if enc.pooling != "meanmax" else torch.cat([prev, full + prev])  # [mean, max]
    hidden, last = _head_linears(enc.head, "head")
    dense, cols = _layer_stack(cut, [(h, None) for h in hidden], cols, amount)
    cut.inputs(last, cols)
    new = {**args, "channels": widths, "dense": dense}
    return _embedding_layer(cut, last, new, amount, keep_embedding, head_w)


def lstm(
    enc: nn.Module, args: dict[str, Any], amount: float, keep_embedding: bool, head_w
) -> Result:
    """Hidden units of every layer and direction (their four gate rows, their recurrent columns,
    the next layer's input columns), then the dense head."""
    cut = StateCut(enc.state_dict())
    rnn = enc.lstm
    H, dirs = int(rnn.hidden_size), 2 if rnn.bidirectional else 1
    keep = n_kept(H, amount)
    prev = None  # kept columns of the layer input (None: the input features, all kept)
    for layer in range(rnn.num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            ih, hh = f"lstm.weight_ih{sfx}", f"lstm.weight_hh{sfx}"
            w = torch.cat([cut.state[ih], cut.state[hh]], 1).reshape(4, H, -1)  # gates i f g o
            kept = keep_by_norm(w.transpose(0, 1), keep)  # a unit: its rows of all four gates
            rows = torch.cat([g * H + kept for g in range(4)])
            for name in (ih, hh, f"lstm.bias_ih{sfx}", f"lstm.bias_hh{sfx}"):
                cut.take(name, 0, rows)
            cut.take(hh, 1, kept)
            if prev is not None:
                cut.take(ih, 1, prev)
            outs.append(d * H + kept)
        prev = torch.cat(outs)  # positions in the layer's output (B, T, dirs * H)
    width = H * dirs
    n_parts = {"concat": 3, "stats": 5}.get(enc.pooling, 1)
    hidden, last = _head_linears(enc.head, "head")
    first = hidden[0] if hidden else last
    fixed = int(cut.state[f"{first}.weight"].shape[1]) - n_parts * width  # summary / spectrum
    cols = torch.cat(
        [k * width + prev for k in range(n_parts)] + [n_parts * width + torch.arange(fixed)]
    )
    dense, cols = _layer_stack(cut, [(h, None) for h in hidden], cols, amount)
    cut.inputs(last, cols)
    kept_emb = _embedding_rows(cut, last, amount, keep_embedding, head_w)
    new = {**args, "hidden_size": keep, "dense": dense}
    if kept_emb is not None:
        new["embedding_dim"] = len(kept_emb)
        appended = int(enc.embedding_dim) - int(args.get("embedding_dim", 16))  # fixed features
        old_dim = int(enc.embedding_dim) - appended
        kept_emb = torch.cat([kept_emb, old_dim + torch.arange(appended)])
    return new, cut.state, kept_emb, cut.log


FAMILIES: dict[str, Callable[..., Result]] = {
    "conv4": conv4,
    "koch_cnn": koch_cnn,
    "mlp": mlp,
    "conv1d": conv1d,
    "lstm": lstm,
}


def prune_encoder(
    name: str | None,
    encoder: nn.Module,
    args: dict[str, Any],
    amount: float,
    *,
    keep_embedding: bool = False,
    head_weight: torch.Tensor | None = None,
) -> Result:
    """The pruned encoder's arguments, state dict and kept embedding dimensions.

    Raises:
        ConfigError: an encoder family without a pruning rule (the message lists those with one).
    """
    if name not in FAMILIES:
        raise ConfigError(
            f"prune: encoder {name!r} has no pruning rule; encoders that can be pruned: "
            f"{', '.join(FAMILIES)}"
        )
    return FAMILIES[name](encoder, args, amount, keep_embedding, head_weight)
