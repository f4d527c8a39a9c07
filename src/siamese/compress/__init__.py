"""Smaller, faster models: int8 / fp16 ONNX exports, structured pruning, and an ONNX Runtime
model with the library model's interface."""

from siamese.compress.compare import compare_with_library
from siamese.compress.onnx_model import OnnxModel
from siamese.compress.quantise import quantise

__all__ = ["OnnxModel", "compare_with_library", "quantise"]
