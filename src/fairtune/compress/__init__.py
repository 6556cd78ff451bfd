"""Compression: quantize (PyTorch dynamic int8, ONNX Runtime dynamic and static int8), bf16 weights, prune
(torch.nn.utils.prune) with a recovery fine-tune, ONNX export; measure each variant and load it back."""

from fairtune.compress._measure import measure_variant, peak_memory, size_mb
from fairtune.compress._onnx import OnnxClassifier, export_onnx
from fairtune.compress._variants import (
    ONNX_VARIANTS,
    PRUNE_METHODS,
    TORCH_VARIANTS,
    PruneSpec,
    apply_pruning,
    build_bf16,
    build_int8,
    build_onnx,
    build_pruned,
    load_variant,
    remove_pruning,
    shrink_ffn,
    variant_dir,
    variant_names,
)

__all__ = [
    "ONNX_VARIANTS",
    "PRUNE_METHODS",
    "TORCH_VARIANTS",
    "OnnxClassifier",
    "PruneSpec",
    "apply_pruning",
    "build_bf16",
    "build_int8",
    "build_onnx",
    "build_pruned",
    "export_onnx",
    "load_variant",
    "measure_variant",
    "peak_memory",
    "remove_pruning",
    "shrink_ffn",
    "size_mb",
    "variant_dir",
    "variant_names",
]
