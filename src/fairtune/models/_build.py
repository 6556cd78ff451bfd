"""Build the classifier to fine-tune (full or LoRA) and save it in Hugging Face format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_dir
from fairtune.config import ModelConfig
from fairtune.errors import MODEL_POOLING_UNSUPPORTED, ConfigError
from fairtune.models._pooling import (
    MEAN_POOLING_TYPES,
    BertForMeanPooledSequenceClassification,
    classifier_class,
)
from fairtune.models._resolve import load_pretrained, resolve_model


def build_classifier(cfg: ModelConfig, label_names: list[str]) -> tuple[Any, Any]:
    """A sequence classifier for `label_names`, wrapped with LoRA if configured.

    The head is fresh, unless `cfg.name` is itself a fine-tuned classifier (a warm start) whose head
    was trained for the same labels: then it is kept, its rows put in the order of `label_names`.
    """
    from transformers import AutoModelForSequenceClassification

    extra: dict[str, Any] = {}
    if cfg.dropout is not None:
        extra.update(hidden_dropout_prob=cfg.dropout, classifier_dropout=cfg.dropout)
    cls: Any = AutoModelForSequenceClassification
    base = _base_config(cfg)
    if cfg.pooling == "mean":
        _check_mean_pooling(cfg, base)
        cls = BertForMeanPooledSequenceClassification
    model, tokenizer = load_pretrained(
        cls,
        cfg.name,
        revision=cfg.revision,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)},
        ignore_mismatched_sizes=True,
        **extra,
    )
    _match_base_head(model, _head_labels(base), label_names)
    if cfg.lora is not None:
        from peft import LoraConfig, TaskType, get_peft_model

        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=list(cfg.lora.target_modules),
        )
        model = get_peft_model(model, lora)
    return model, tokenizer


def _base_config(cfg: ModelConfig) -> Any:
    """`cfg.name`'s config.json, or None for an unreachable hub id (loading it reports that, with the fix)."""
    from transformers import AutoConfig

    target, local = resolve_model(cfg.name)
    try:
        return AutoConfig.from_pretrained(
            target, revision=None if local else cfg.revision, trust_remote_code=False
        )
    except OSError:
        return None


def _check_mean_pooling(cfg: ModelConfig, config: Any) -> None:
    """Refuse `model.pooling: mean` for a model type it is not built for. Transformers would only warn
    and load the weights into a BERT of the wrong shape."""
    if config is None:
        return
    model_type = config.model_type
    if model_type not in MEAN_POOLING_TYPES:
        raise ConfigError(
            MODEL_POOLING_UNSUPPORTED.format(
                supported=", ".join(MEAN_POOLING_TYPES), name=cfg.name, model_type=model_type
            )
        )


def _head_labels(config: Any) -> list[str] | None:
    """The labels the base model's own head was trained for, in id order; None for a plain encoder (no
    id2label, or Transformers' placeholder names LABEL_0, LABEL_1, ...)."""
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label[i]) for i in sorted(id2label, key=int)]
    if not names or names == [f"LABEL_{i}" for i in range(len(names))]:
        return None
    return names


def _output_layer(model: Any, n: int) -> Any:
    """The layer that writes the logits: the last Linear with `n` outputs (BERT's `classifier`,
    RoBERTa's `classifier.out_proj`, DistilBERT's `classifier`)."""
    import torch

    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == n]
    return layers[-1] if layers else None


def _match_base_head(model: Any, base: list[str] | None, label_names: list[str]) -> None:
    """Transformers keeps a warm start's head whenever its size fits, even when it was trained for other
    labels or another order. Put its rows in `label_names`' order, or give a fresh head for other labels."""
    import sys

    import torch

    if base is None or base == label_names or len(base) != len(label_names):
        return  # a plain encoder, the same labels, or a size mismatch Transformers already re-initialised
    layer = _output_layer(model, len(label_names))
    if layer is None:
        return
    with torch.no_grad():
        if sorted(base) == sorted(label_names):
            order = [base.index(name) for name in label_names]
            layer.weight.copy_(layer.weight[order].clone())
            if layer.bias is not None:
                layer.bias.copy_(layer.bias[order].clone())
            note = f"its head's rows were reordered from {base} to {label_names}"
        else:
            # as Transformers initialises a new head (its own _init_weights skips loaded weights)
            layer.weight.normal_(0.0, getattr(model.config, "initializer_range", 0.02))
            if layer.bias is not None:
                layer.bias.zero_()
            note = f"its head was trained for {base}, not {label_names}, so a fresh output layer is used"
    print(f"model.name {model.config._name_or_path}: {note}", file=sys.stderr, flush=True)


def is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config")


def save_model(model: Any, tokenizer: Any, out_dir: str | Path) -> None:
    """Write `out_dir` atomically: merged weights as safetensors, tokenizer, config with id2label.

    A LoRA model also keeps its adapter in `out_dir/adapter/` so it can be reloaded with PEFT.
    """

    def write(tmp: Path) -> None:
        if is_peft(model):
            model.save_pretrained(tmp / "adapter", safe_serialization=True)
            import copy

            merged = copy.deepcopy(model).merge_and_unload()
            merged.save_pretrained(tmp, safe_serialization=True)
        else:
            model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    atomic_write_dir(out_dir, write)


def load_trained(model_dir: str | Path) -> tuple[Any, Any]:
    """Load a fine-tuned model folder written by `save_model` (or any HF classifier folder)."""
    from transformers import AutoConfig

    target, _ = resolve_model(str(model_dir))
    model, tokenizer = load_pretrained(classifier_class(AutoConfig.from_pretrained(target)), target)
    model.eval()
    return model, tokenizer
