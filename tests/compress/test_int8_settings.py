"""The int8 settings chosen on the profiles (siamese.compress.quantise's docstring): 7-bit weights,
a first block over few channels kept in float32 with its quantisation after the pooling, and no
first block kept for a graph whose first convolution reads many channels or has none."""

from __future__ import annotations

import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from siamese.compress.quantise import FLOAT_FIRST_MAX_CHANNELS, float_first_block
from siamese.export import export_model


def _graph(module: nn.Module, shape: tuple[int, ...], tmp_path) -> onnx.ModelProto:
    path = tmp_path / "g.onnx"
    torch.onnx.export(module.eval(), torch.zeros(1, *shape), str(path), dynamo=False)
    return onnx.load(str(path))


def test_first_block_of_a_few_channel_convolution_is_kept_float(tmp_path):
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3), nn.ReLU()
    )
    graph = _graph(net, (1, 12, 12), tmp_path)
    ops = {n.name: n.op_type for n in graph.graph.node}
    kept = float_first_block(graph)
    assert [ops[k] for k in kept] == ["Conv", "Relu", "MaxPool"]  # up to the first pooling


def test_no_float_block_for_many_channels_a_block_without_pooling_or_no_convolution(tmp_path):
    wide = nn.Sequential(nn.Conv2d(FLOAT_FIRST_MAX_CHANNELS + 1, 8, 3), nn.ReLU(), nn.MaxPool2d(2))
    assert float_first_block(_graph(wide, (FLOAT_FIRST_MAX_CHANNELS + 1, 8, 8), tmp_path)) == []
    assert float_first_block(_graph(nn.Sequential(nn.Linear(4, 4)), (4,), tmp_path)) == []
    # the block ends before the first node that is not its activation or pooling
    flat = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2))
    graph = _graph(flat, (1, 8, 8), tmp_path)
    ops = {n.name: n.op_type for n in graph.graph.node}
    assert [ops[k] for k in float_first_block(graph)] == ["Conv", "Relu"]


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_int8_weights_use_seven_bits(tiny_run, mode, tmp_path):
    run = tiny_run("conv4", head=False)
    out = tmp_path / f"{mode}.onnx"
    export_model(run, "onnx", out, precision="int8", int8_mode=mode, check=False)
    graph = onnx.load(str(out))
    weights = [
        numpy_helper.to_array(t)
        for t in graph.graph.initializer
        if t.data_type == onnx.TensorProto.INT8
    ]
    # symmetric 7-bit: |w| <= 64 (the full 8-bit range reaches 127)
    assert weights and all(abs(int(w.min())) <= 64 and w.max() <= 64 for w in weights)
    if mode == "static":  # conv4 reads one channel: each view's first block stays float32
        producer = {o: n for n in graph.graph.node for o in n.output}
        firsts = [n for n in graph.graph.node if n.op_type == "Conv" and n.input[1] not in producer]
        assert len(firsts) == 9  # test_time_shift 1: 3 x 3 views, a tower each
        consumer = {i: n for n in graph.graph.node for i in n.input}
        for conv in firsts:  # float weights, float input; quantised after the pooling
            assert producer[conv.input[0]].op_type != "DequantizeLinear"
            relu = consumer[conv.output[0]]
            pool = consumer[relu.output[0]]
            assert (relu.op_type, pool.op_type) == ("Relu", "MaxPool")
            assert consumer[pool.output[0]].op_type == "QuantizeLinear"
