"""Build each compressed variant of a trained model into its own folder, and load any of them back as a
`Classifier`. Every variant folder holds `variant.json` (what it is, how it was built) beside its files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_dir, read_json
from fairtune.errors import (
    COMPRESS_PRUNE_AMOUNT,
    COMPRESS_PRUNE_STRUCTURED,
    VARIANT_UNKNOWN,
    FairtuneError,
)

#: Variant names in build order. `--onnx` builds the three ONNX ones (the export is shared).
TORCH_VARIANTS = ("bf16", "int8")
ONNX_VARIANTS = ("onnx", "onnx-int8", "onnx-int8-static")
PRUNE_METHODS = ("magnitude", "heads", "ffn", "layers")
INT8_WEIGHTS = "model_int8.pt"
ONNX_FILE = "model.onnx"


@dataclass(frozen=True)
class PruneSpec:
    amount: float
    method: str = "magnitude"
    recover_steps: int = 100
    #: Recovery loss: (1 - w) * cross-entropy + w * distillation from the model before pruning.
    distill_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.amount < 1.0:
            raise FairtuneError(COMPRESS_PRUNE_AMOUNT.format(value=self.amount))
        if self.method not in PRUNE_METHODS:
            raise FairtuneError(
                f"--prune-method: unknown method {self.method!r}. Methods: {', '.join(PRUNE_METHODS)}."
            )
        if self.recover_steps < 0:
            raise FairtuneError(
                f"--recover-steps: {self.recover_steps} is negative. Pass 0 to skip recovery."
            )
        if not 0.0 <= self.distill_weight <= 1.0:
            raise FairtuneError(
                f"--distill-weight: {self.distill_weight} is outside [0, 1]. Pass 0 to recover on the labels "
                "alone, 1 to follow the unpruned model alone."
            )

    @property
    def name(self) -> str:
        return f"pruned-{self.method}-{round(self.amount * 100)}"


def _write_meta(out: Path, kind: str, *, source: str, **recipe: Any) -> None:
    """variant.json, and the source model's word-recognition front end where it has one: a variant reads
    its texts as the model it was made from does."""
    from fairtune.models import RECOGNIZER_FILE

    (out / "variant.json").write_text(json.dumps({"kind": kind, "source": source, **recipe}, indent=2) + "\n")
    if (Path(source) / RECOGNIZER_FILE).is_file():
        shutil.copyfile(Path(source) / RECOGNIZER_FILE, out / RECOGNIZER_FILE)


def _save_hf(model: Any, tokenizer: Any, out: Path) -> None:
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


# --- torch variants ---------------------------------------------------------------------------------------


def build_bf16(model_dir: Path, out: Path) -> None:
    """bf16 weights on disk (half the size); inference runs in bf16."""
    from fairtune.models import load_trained

    model, tok = load_trained(model_dir)

    def write(tmp: Path) -> None:
        _save_hf(model.to(dtype=_torch().bfloat16), tok, tmp)
        _write_meta(tmp, "torch", dtype="bfloat16", source=str(model_dir))

    atomic_write_dir(out, write)


def _quantize_int8(model: Any) -> Any:
    import warnings

    import torch

    with warnings.catch_warnings():
        # torch.ao.quantization warns that it moves to torchao; it still ships, and works, in torch 2.13.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        return torch.ao.quantization.quantize_dynamic(
            model.float().eval(), {torch.nn.Linear}, dtype=torch.qint8
        )


def build_int8(model_dir: Path, out: Path) -> None:
    """PyTorch dynamic int8: Linear weights int8, activations quantized per batch at run time."""
    from fairtune.models import load_trained

    model, tok = load_trained(model_dir)
    q = _quantize_int8(model)

    def write(tmp: Path) -> None:
        model.config.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        _torch().save(q.state_dict(), tmp / INT8_WEIGHTS)
        _write_meta(tmp, "torch-int8", dtype="qint8", source=str(model_dir))

    atomic_write_dir(out, write)


# --- ONNX variants ----------------------------------------------------------------------------------------


def build_onnx(
    model_dir: Path,
    root: Path,
    *,
    max_length: int,
    calibration_texts: Sequence[str],
    names: Sequence[str],
    prefix: str = "",
) -> list[str]:
    """Export once, fuse with ONNX Runtime's transformer optimizer, then quantize (dynamic; static with
    activation ranges calibrated on `calibration_texts`). Each goes to root/<prefix><name>. Returns the
    variants built."""
    import tempfile

    from fairtune.compress._onnx import (
        calibration_batches,
        export_onnx,
        fuse_transformer,
        op_counts,
        quantize_dynamic_int8,
        quantize_static_int8,
    )
    from fairtune.models import load_trained

    model, tok = load_trained(model_dir)
    built = []
    with tempfile.TemporaryDirectory(prefix="fairtune-onnx-") as td:
        raw, fused = Path(td) / "raw.onnx", Path(td) / "fused.onnx"
        export_onnx(model, tok, raw, max_length=max_length)
        is_fused = fuse_transformer(raw, fused, model.config)
        steps: dict[str, Callable[[Path], object]] = {
            "onnx": lambda dst: shutil.copyfile(fused, dst),
            "onnx-int8": lambda dst: quantize_dynamic_int8(fused, dst),
            "onnx-int8-static": lambda dst: quantize_static_int8(
                raw, dst, calibration_batches(tok, calibration_texts, max_length=max_length)
            ),
        }
        recipes: dict[str, dict[str, Any]] = {
            "onnx": {"dtype": "float32"},
            "onnx-int8": {"dtype": "int8", "quantization": "dynamic, per-channel weights"},
            "onnx-int8-static": {
                "dtype": "int8",
                "quantization": "static QDQ on MatMul, per-channel weights, MinMax activation ranges",
                "calibration_texts": len(calibration_texts),
            },
        }
        for name in names:

            def write(tmp: Path, name: str = name) -> None:
                steps[name](tmp / ONNX_FILE)
                model.config.save_pretrained(tmp)
                tok.save_pretrained(tmp)
                _write_meta(
                    tmp,
                    "onnx",
                    fused=is_fused,
                    fused_ops=op_counts(tmp / ONNX_FILE),
                    source=str(model_dir),
                    **recipes[name],
                )

            atomic_write_dir(root / f"{prefix}{name}", write)
            built.append(f"{prefix}{name}")
    return built


# --- pruning ----------------------------------------------------------------------------------------------


def _bert_layers(model: Any, method: str, what: str) -> list[Any]:
    layers = getattr(getattr(getattr(model, "base_model", None), "encoder", None), "layer", None)
    ok = layers is not None and all(
        hasattr(layer, "attention")
        and hasattr(layer.attention, "output")
        and hasattr(layer, "output")
        and hasattr(layer, "intermediate")
        for layer in layers
    )
    if not ok:
        raise FairtuneError(
            COMPRESS_PRUNE_STRUCTURED.format(method=method, arch=type(model).__name__, what=what)
        )
    assert layers is not None
    return list(layers)


def apply_pruning(model: Any, spec: PruneSpec) -> dict[str, Any]:
    """Attach `torch.nn.utils.prune` masks (kept during recovery so pruned weights stay zero).

    - magnitude: global L1 unstructured over every encoder Linear weight (not embeddings, not the head);
    - heads: whole attention heads, least L2 norm of their slice of the attention output projection first,
      chosen globally across layers;
    - ffn: FFN neurons (columns of each layer's FFN output projection) by L2 norm, per layer;
    - layers: whole encoder layers, the top ones (`drop_top_layers`; no mask, they are gone at once).
    Returns what was removed."""
    import torch
    from torch.nn.utils import prune

    if spec.method == "magnitude":
        head = {
            id(m) for n, m in model.named_modules() if n.split(".")[0] in ("classifier", "score", "pooler")
        }
        linears = [
            (m, "weight")
            for n, m in model.base_model.named_modules()
            if isinstance(m, torch.nn.Linear) and id(m) not in head and not n.startswith("pooler")
        ]
        prune.global_unstructured(linears, pruning_method=prune.L1Unstructured, amount=spec.amount)
        total = sum(m.weight.numel() for m, _ in linears)
        zeros = sum(int((m.weight == 0).sum()) for m, _ in linears)
        return {"linear_layers": len(linears), "weights": total, "zeroed": zeros}
    if spec.method == "heads":
        layers = _bert_layers(model, spec.method, "attention heads")
        n_heads = model.config.num_attention_heads
        scores = []
        for li, layer in enumerate(layers):
            w = layer.attention.output.dense.weight.detach()  # [hidden, hidden]; columns grouped by head
            d = w.shape[1] // n_heads
            scores += [(float(w[:, h * d : (h + 1) * d].norm()), li, h) for h in range(n_heads)]
        k = round(spec.amount * len(scores))
        chosen = sorted(scores)[:k]
        for li, layer in enumerate(layers):
            dense = layer.attention.output.dense
            mask = torch.ones_like(dense.weight)
            d = dense.weight.shape[1] // n_heads
            for _, lj, h in chosen:
                if lj == li:
                    mask[:, h * d : (h + 1) * d] = 0
            prune.custom_from_mask(dense, "weight", mask)
        return {"heads": len(scores), "pruned_heads": sorted([li, h] for _, li, h in chosen)}
    if spec.method == "layers":
        return drop_top_layers(model, spec.amount)
    layers = _bert_layers(model, spec.method, "FFN neurons")
    for layer in layers:
        prune.ln_structured(layer.output.dense, "weight", amount=spec.amount, n=2, dim=1)
    neurons = sum(layer.output.dense.weight.shape[1] for layer in layers)
    return {
        "neurons": neurons,
        "pruned_neurons": round(spec.amount * layers[0].output.dense.weight.shape[1]) * len(layers),
    }


def drop_top_layers(model: Any, amount: float) -> dict[str, Any]:
    """Remove the top `amount` share of encoder layers (rounded; at least one goes, at least one stays)
    and set `config.num_hidden_layers` to match, so the folder loads with `from_pretrained` as a plain,
    shallower model. Top layers first, as Sajjad et al. 2020 ("On the effect of dropping layers of
    pre-trained transformer models") found best among the strategies they compared; the recovery
    fine-tune then adapts the kept layers and the head to their new input."""
    import torch

    layers = _bert_layers(model, "layers", "encoder layers")
    n = len(layers)
    if n < 2:
        raise FairtuneError(
            f"--prune-method layers: the model has {n} encoder layer(s), so there is none to drop. Use "
            "--prune-method ffn or magnitude."
        )
    keep = min(n - 1, max(1, n - round(amount * n)))
    model.base_model.encoder.layer = torch.nn.ModuleList(layers[:keep])
    model.config.num_hidden_layers = keep
    return {"layers_before": n, "layers": keep, "dropped_layers": list(range(keep, n))}


def shrink_ffn(model: Any) -> dict[str, Any]:
    """Physically remove the FFN neurons that `ffn` pruning masked, so the model computes less: each
    layer's `intermediate.dense` loses their rows and `output.dense` their columns, and
    `config.intermediate_size` becomes the kept width, so the folder loads with `from_pretrained` as a
    plain, smaller model. Exact: a masked neuron's output column is zero. Call it with the masks still
    attached (before `remove_pruning`). If layers kept different counts, each is padded to the widest
    with masked neurons, which still contribute nothing. Returns the widths before and after."""
    import torch

    layers = _bert_layers(model, "ffn", "FFN neurons")
    alive = []
    for layer in layers:
        dense = layer.output.dense
        mask = getattr(dense, "weight_mask", None)
        alive.append(((mask if mask is not None else dense.weight).detach() != 0).any(dim=0))
    remove_pruning(model)
    width = max(int(a.sum()) for a in alive)
    for layer, a in zip(layers, alive, strict=True):
        # alive neurons first, then masked ones to fill the width; kept in their original order
        idx = torch.argsort(a.int(), descending=True, stable=True)[:width].sort().values
        layer.intermediate.dense = _select_linear(layer.intermediate.dense, idx, dim=0)
        layer.output.dense = _select_linear(layer.output.dense, idx, dim=1)
    before = int(model.config.intermediate_size)
    model.config.intermediate_size = width
    return {"intermediate_size_before": before, "intermediate_size": width}


def _select_linear(linear: Any, idx: Any, *, dim: int) -> Any:
    """A new Linear keeping output rows (dim 0) or input columns (dim 1) `idx` of `linear`."""
    import torch

    weight = linear.weight.detach().index_select(dim, idx)
    new = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None)
    new = new.to(dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        new.weight.copy_(weight)
        if linear.bias is not None:
            new.bias.copy_(linear.bias.detach().index_select(0, idx) if dim == 0 else linear.bias.detach())
    return new


def remove_pruning(model: Any) -> None:
    """Make the masks permanent (weight = weight_orig * mask) so the model saves as a plain HF model."""
    from torch.nn.utils import prune

    for module in model.modules():
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, "weight")


def build_pruned(
    model_dir: Path,
    out: Path,
    spec: PruneSpec,
    *,
    recover: Callable[[Any, Any, PruneSpec], dict[str, Any]] | None,
) -> None:
    """Prune, fine-tune `spec.recover_steps` steps with the masks in place, then save. FFN pruning then
    removes the pruned neurons from the weights (`shrink_ffn`), and layer pruning has removed whole layers,
    so the saved model is smaller and faster; magnitude and head pruning keep the shapes, with zeros."""
    from fairtune.models import load_trained

    model, tok = load_trained(model_dir)
    model = model.float()
    removed = apply_pruning(model, spec)
    recovery: dict[str, Any] = {"steps": 0}
    if spec.recover_steps and recover is not None:
        recovery = recover(model, tok, spec)
    if spec.method == "ffn":
        removed.update(shrink_ffn(model))
    remove_pruning(model)
    model.eval()

    def write(tmp: Path) -> None:
        _save_hf(model, tok, tmp)
        _write_meta(
            tmp,
            "torch",
            dtype="float32",
            source=str(model_dir),
            pruning={"method": spec.method, "amount": spec.amount, **removed},
            recovery=recovery,
        )

    atomic_write_dir(out, write)


# --- loading ----------------------------------------------------------------------------------------------


def variant_names(compress_dir: Path) -> list[str]:
    if not compress_dir.is_dir():
        return []
    return sorted(p.name for p in compress_dir.iterdir() if (p / "variant.json").is_file())


def variant_dir(run_root: Path, name: str, *, flag: str = "--variant") -> Path:
    path = run_root / "compress" / name
    if not (path / "variant.json").is_file():
        known = ", ".join(variant_names(run_root / "compress")) or "none yet"
        raise FairtuneError(
            VARIANT_UNKNOWN.format(
                flag=flag, name=name, path=run_root / "compress", known=known, run=run_root
            )
        )
    return path


def _from_config(cls: Any, config: Any) -> Any:
    """A model of `cls` (an Auto class or a model class) with fresh weights for `config`."""
    return cls.from_config(config) if hasattr(cls, "from_config") else cls._from_config(config)


def load_variant(path: Path, *, batch_size: int, max_length: int, precision: str = "auto") -> Any:
    """A compressed variant behind the `Classifier` interface."""
    from transformers import AutoConfig, AutoTokenizer

    from fairtune.models import TorchClassifier, classifier_class, load_recognizer

    meta = read_json(path / "variant.json")
    kind = meta["kind"]
    if kind == "onnx":
        from fairtune.compress._onnx import OnnxClassifier

        config = AutoConfig.from_pretrained(path)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        return OnnxClassifier(
            path / ONNX_FILE,
            AutoTokenizer.from_pretrained(path),
            labels,
            batch_size=batch_size,
            max_length=max_length,
            front_end=load_recognizer(path),
        )
    if kind == "torch-int8":
        config = AutoConfig.from_pretrained(path)
        model = _quantize_int8(_from_config(classifier_class(config), config))
        from fairtune.training._checkpoint import load_tensors

        model.load_state_dict(load_tensors(path / INT8_WEIGHTS))
    elif meta.get("dtype") == "bfloat16":
        model = classifier_class(AutoConfig.from_pretrained(path)).from_pretrained(
            path, dtype=_torch().bfloat16
        )
    else:
        return TorchClassifier.from_dir(
            path, batch_size=batch_size, max_length=max_length, precision=precision
        )
    # int8 kernels and bf16 weights run as they are; autocast to bf16 would only add casts.
    return TorchClassifier(
        model.eval(),
        AutoTokenizer.from_pretrained(path),
        batch_size=batch_size,
        max_length=max_length,
        precision="fp32",
        front_end=load_recognizer(path),
    )


def _torch() -> Any:
    import torch

    return torch
