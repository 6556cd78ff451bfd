"""ONNX export (torch.onnx), ONNX Runtime graph fusion and int8 quantization, and `OnnxClassifier`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fairtune.errors import COMPRESS_ONNX_FAILED, FairtuneError

INPUTS = ("input_ids", "attention_mask")
OPSET = 17


def export_onnx(model: Any, tokenizer: Any, path: Path, *, max_length: int) -> None:
    """Export the classifier's logits to ONNX with dynamic batch and sequence axes.

    The legacy TorchScript exporter (dynamo=False) is used: it needs no extra package and handles BERT-style
    encoders. A failure names the operator or layer and points to the torch int8 path."""
    import torch

    model = model.float().eval()
    # Transformers' SDPA attention exports as a masked-softmax subgraph (IsNaN/Where) that ONNX Runtime's
    # fuser does not recognise; the eager path exports as plain MatMul/Softmax, which it fuses into one
    # Attention node per layer (QAttention after int8). Same outputs, a far smaller graph; on the 2 AVX2
    # cores where bench/infer_speed.py ran, the speed at batch 32 stayed within measurement noise.
    previous = getattr(model.config, "_attn_implementation", None)
    if previous not in (None, "eager") and hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation("eager")
        except (ValueError, NotImplementedError):
            previous = None  # an architecture without an eager path keeps its own
    else:
        previous = None
    sample = tokenizer(["a sample text to trace", "short"], padding=True, return_tensors="pt")
    args = tuple(sample[k] for k in INPUTS)

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits  # type: ignore[no-any-return]

    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    try:
        import warnings

        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
            torch.onnx.export(
                Logits(model),
                args,
                str(path),
                input_names=list(INPUTS),
                output_names=["logits"],
                dynamic_axes={**axes, "logits": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:
        raise FairtuneError(
            COMPRESS_ONNX_FAILED.format(arch=type(model).__name__, where=_failing_op(exc), detail=exc)
        ) from exc
    finally:
        if previous is not None:
            model.set_attn_implementation(previous)


def _failing_op(exc: Exception) -> str:
    """The operator or layer an exporter error names, else its first line."""
    import re

    text = str(exc)
    for pattern in (r"operator '?([\w:.]+)'?", r"aten::\w+", r"module '?([\w.]+)'?"):
        m = re.search(pattern, text)
        if m:
            return m.group(0)
    return text.splitlines()[0][:160] if text else type(exc).__name__


def fuse_transformer(src: Path, dst: Path, config: Any) -> bool:
    """Fuse attention, LayerNorm and GELU subgraphs with ONNX Runtime's transformer optimizer (BERT
    family). Returns False, leaving `dst` a copy of `src`, where the optimizer does not apply."""
    import shutil

    heads = getattr(config, "num_attention_heads", 0)
    hidden = getattr(config, "hidden_size", 0)
    if getattr(config, "model_type", "") not in ("bert", "roberta", "distilbert", "electra") or not heads:
        shutil.copyfile(src, dst)
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(
        str(src),
        model_type="bert" if config.model_type != "distilbert" else "distilbert",
        num_heads=heads,
        hidden_size=hidden,
        opt_level=1,
    )
    opt.save_model_to_file(str(dst))
    return True


def op_counts(path: Path) -> dict[str, int]:
    """How many nodes of each fused operator the graph has (what the fuser and quantizer made of it)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    fused = (
        "Attention",
        "QAttention",
        "SkipLayerNormalization",
        "BiasGelu",
        "FastGelu",
        "EmbedLayerNormalization",
    )
    counts: dict[str, int] = {}
    for node in graph.node:
        if node.op_type in fused:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def quantize_dynamic_int8(src: Path, dst: Path) -> None:
    """Weights int8 per channel, activations quantized on the fly (no calibration)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        # Fused contrib ops (SkipLayerNormalization, BiasGelu) defeat ONNX shape inference: say float.
        extra_options={"DefaultTensorType": _float_type()},
    )


def _float_type() -> int:
    import onnx

    return int(onnx.TensorProto.FLOAT)


def quantize_static_int8(src: Path, dst: Path, batches: Iterator[dict[str, np.ndarray]]) -> None:
    """Weights and activations int8 (QDQ) on the Linear layers' MatMuls, activation ranges calibrated on
    `batches` of training texts. `src` is the plain export: ORT's pre-processing (ONNX shape inference,
    graph cleanup) runs first, as ONNX Runtime's quantization guide asks."""
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    with tempfile.TemporaryDirectory(prefix="fairtune-qdq-") as td:
        pre = Path(td) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )


def calibration_batches(
    tokenizer: Any, texts: Sequence[str], *, max_length: int, batch_size: int = 16
) -> Iterator[dict[str, np.ndarray]]:
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            list(texts[start : start + batch_size]),
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="np",
        )
        yield {k: enc[k].astype(np.int64) for k in INPUTS}


def session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU. Its threads follow the OpenMP wait policy that torch's do:
    with `OMP_WAIT_POLICY=PASSIVE` (what `fairtune serve` sets) idle threads sleep instead of
    spinning, so they leave the cores to the HTTP side between batches."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or _threads()
    opts.inter_op_num_threads = 1
    if os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE":
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _threads() -> int:
    import torch

    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


class OnnxClassifier:
    """An ONNX Runtime session behind `predict_proba`, batched and length-sorted like `TorchClassifier`."""

    def __init__(
        self,
        onnx_path: str | Path,
        tokenizer: Any,
        labels: list[str],
        *,
        batch_size: int = 128,
        max_length: int = 128,
        front_end: Callable[[Sequence[str]], list[str]] | None = None,
    ) -> None:
        self.path = Path(onnx_path)
        self.front_end = front_end
        self.session = session(self.path)
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.batch_size = batch_size
        self.max_length = max_length

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        from fairtune.models._classifier import batched_by_length

        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]  # type: ignore[no-any-return]

        if self.front_end is not None:
            texts = self.front_end(texts)
        return batched_by_length(
            self.tokenizer, texts, self.max_length, self.batch_size, len(self.labels), run
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        from fairtune.models import softmax

        return softmax(self.logits(texts))
