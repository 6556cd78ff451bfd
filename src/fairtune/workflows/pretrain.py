"""`fairtune pretrain CONFIG`: continued masked-language-model pretraining on unlabelled text.

Writes runs/<name>/model/ (a Hugging Face folder that `fairtune train` accepts as `model.name`; it keeps the
base model's pooler, so a classifier built on it starts where one built on the base model would),
checkpoints/ (the Hugging Face Trainer's, for --resume) and metrics.json (perplexity on held-out text,
before and after).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_dir, atomic_write_json
from fairtune._rundir import prepare_run_dir
from fairtune._stages import register_stage
from fairtune.config import FairtuneConfig
from fairtune.errors import ENCRYPTED_PRETRAIN_CHECKPOINTS, ConfigError, DataError


def split_texts(texts: list[str], eval_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    if len(texts) < 2:
        raise DataError(
            f"pretrain.data: {len(texts)} usable text; continued pretraining needs at least 2 (one to train "
            "on, one to measure perplexity). Give more text."
        )
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(texts))
    n_eval = min(len(texts) - 1, max(1, round(eval_fraction * len(texts))))
    return [texts[i] for i in order[n_eval:]], [texts[i] for i in order[:n_eval]]


def counterfactual_copies(cfg: FairtuneConfig, texts: list[str]) -> tuple[list[str], dict[str, Any]]:
    cf = cfg.pretrain.counterfactual if cfg.pretrain else None
    if cf is None:
        return texts, {}
    from fairtune.data import load_lexicons, make_counterfactuals

    lexicons = load_lexicons(cf.dimensions, cf.lexicon_dir, "pretrain.counterfactual")
    cfs = make_counterfactuals(texts, lexicons, pronouns=cf.pronouns, seed=cfg.seed)
    info = {
        "texts": len(texts),
        "texts_with_terms": len(set(cfs.index)),
        "copies_added": len(cfs.texts),
        "copies_per_dimension": cfs.per_dimension(),
        "dimensions": cf.dimensions,
    }
    return texts + cfs.texts, info


def _base_pooler(name: str, prefix: str) -> dict[str, Any]:
    """The base checkpoint's pooler weights, keyed as the MLM model's base would hold them."""
    from safetensors import safe_open

    from fairtune.models import resolve_model

    target, local = resolve_model(name)
    if not local:
        return {}
    out = {}
    for f in Path(target).glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            for k in st.keys():  # noqa: SIM118 - safe_open has keys(), not iteration
                if k.startswith("pooler.") or k.startswith(f"{prefix}.pooler."):
                    out[k if k.startswith(prefix + ".") else f"{prefix}.{k}"] = st.get_tensor(k)
    return out


def save_pretrained_mlm(model: Any, tokenizer: Any, out: Path, base_name: str) -> None:
    """Write the MLM folder atomically, with the base model's pooler added to its weights."""
    from safetensors.torch import load_file, save_file

    pooler = _base_pooler(base_name, model.base_model_prefix)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if pooler:
            path = tmp / "model.safetensors"
            weights = load_file(str(path))
            weights.update({k: v.contiguous() for k, v in pooler.items()})
            save_file(weights, str(path), metadata={"format": "pt"})

    atomic_write_dir(out, write)


def pretrain(
    cfg: FairtuneConfig, *, resume: bool = False, overwrite: bool = False, show_progress: bool = True
) -> dict[str, Any]:
    """Continue pretraining `cfg.model.name` on `cfg.pretrain.data`; returns metrics.json's content."""
    if cfg.encryption is not None and cfg.encryption.checkpoints:
        raise ConfigError(ENCRYPTED_PRETRAIN_CHECKPOINTS)
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from transformers import Trainer, TrainingArguments, set_seed
    from transformers.integrations import TensorBoardCallback

    from fairtune.training import resolve_precision
    from fairtune.training._pretrain import collator, encode, load_mlm, perplexity, read_unlabelled

    pc = cfg.pretrain
    if pc is None:
        raise ConfigError(
            ["pretrain: the config has no pretrain section. Add one, e.g. pretrain: {data: unlabelled.txt}."]
        )
    texts = read_unlabelled(pc.data, pc.text_column)
    # The Hugging Face Trainer names its checkpoints checkpoint-N.
    run = prepare_run_dir(cfg, resume=resume, overwrite=overwrite, checkpoint_glob="checkpoint-*")
    train_texts, eval_texts = split_texts(texts, pc.eval_fraction, cfg.seed)
    train_texts, cf_info = counterfactual_copies(cfg, train_texts)
    set_seed(cfg.seed)  # a new MLM head is initialised from the seed
    model, tok, new_head = load_mlm(cfg.model.name, cfg.model.revision)
    train_ds, eval_ds = encode(tok, train_texts, pc.max_length), encode(tok, eval_texts, pc.max_length)
    kw: dict[str, Any] = {
        "mask_probability": pc.mask_probability,
        "whole_word": pc.whole_word_mask,
        "seed": cfg.seed,
    }
    before = perplexity(model, tok, eval_ds, batch_size=64, **kw)
    run.write_config(cfg)
    steps_per_epoch = -(-len(train_ds) // pc.batch_size)
    total = pc.max_steps or max(1, round(pc.epochs * steps_per_epoch))
    precision = resolve_precision(cfg.train.precision)
    args = TrainingArguments(
        output_dir=str(run.checkpoints),
        per_device_train_batch_size=pc.batch_size,
        learning_rate=pc.lr,
        weight_decay=pc.weight_decay,
        max_steps=total,
        warmup_steps=int(pc.warmup_ratio * total),
        lr_scheduler_type="linear",
        logging_steps=pc.log_every,
        save_strategy="steps",
        save_steps=pc.save_every,
        save_total_limit=2,
        report_to=[],  # TensorBoard through the callback below, into the run's events/
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=precision == "bf16",
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=not show_progress,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        data_collator=collator(tok, pc.mask_probability, pc.whole_word_mask),
        callbacks=[TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(run.events)))],
    )
    t0 = time.perf_counter()
    out = trainer.train(resume_from_checkpoint=True if resume else None)
    seconds = time.perf_counter() - t0
    after = perplexity(model, tok, eval_ds, batch_size=64, **kw)
    save_pretrained_mlm(model, tok, run.model, cfg.model.name)
    metrics = {
        "schema": "fairtune/metrics/v1",
        "pretrain": {
            "perplexity": after["perplexity"],
            "perplexity_before": before["perplexity"],
            "eval_loss": after["loss"],
            "eval_loss_before": before["loss"],
            "masked_tokens_eval": after["masked_tokens"],
            "train_loss": float(out.training_loss),
            "steps": int(out.global_step),
            "train_texts": len(train_texts),
            "eval_texts": len(eval_texts),
            "new_mlm_head": new_head,
            "seconds": seconds,
            "minutes": seconds / 60,
            "precision": precision,
            "history": [h for h in trainer.state.log_history if "loss" in h],
            **({"counterfactual": cf_info} if cf_info else {}),
        },
    }
    atomic_write_json(run.metrics, metrics)
    return metrics


register_stage("pretrain", pretrain)
