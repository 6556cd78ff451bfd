"""Domain-adaptive continued pretraining (Gururangan et al. 2020): masked language modelling with whole-word
masking, through the Hugging Face `Trainer` (its checkpoints and resume) and its MLM data collator."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fairtune.errors import DATA_FILE_MISSING, DataError

#: Keys of a BERT-style MLM head. A checkpoint without them gets a new head, tied to the input embeddings.
MLM_HEAD_PREFIXES = ("cls.", "lm_head.", "vocab_", "generator_lm_head", "predictions.")


def read_unlabelled(path: str, column: str, field: str = "pretrain.data") -> list[str]:
    """Non-empty texts of a .txt (one per line), .jsonl, .csv, .tsv or .parquet file."""
    from fairtune.data._read import decode_utf8, read_table

    p = Path(path)
    if not p.is_file():
        raise DataError(DATA_FILE_MISSING.format(field=field, path=p, cwd=Path.cwd()))
    if p.suffix.lower() == ".txt":
        raw: list[Any] = decode_utf8(p).splitlines()
    else:
        frame = read_table(p, field=field).frame
        if column not in frame.columns:
            raise DataError(
                f"{field}: {p} has no column {column!r} (columns: {', '.join(map(str, frame.columns))}). "
                "Set pretrain.text_column to the column that holds the text."
            )
        raw = frame[column].tolist()
    texts = [t.strip() for t in raw if isinstance(t, str) and t.strip()]
    if not texts:
        raise DataError(
            f"{field}: {p} has no usable text: {len(raw)} row(s), all empty or not text. "
            "Give a file with one text per line (.txt) or a text column."
        )
    return texts


def load_mlm(name: str, revision: str | None = None) -> tuple[Any, Any, bool]:
    """(masked-LM model, tokenizer, whether the MLM head is new). A new head is tied to the input
    embeddings, as BERT's is, so only its transform and bias start from random."""
    from transformers import AutoModelForMaskedLM

    from fairtune.models import load_pretrained

    (model, info), tok = load_pretrained(
        AutoModelForMaskedLM, name, revision=revision, output_loading_info=True
    )
    missing = [
        k for k in info.get("missing_keys", []) if k.startswith(MLM_HEAD_PREFIXES) or ".predictions." in k
    ]
    new_head = bool(missing)
    if new_head:
        out, inp = model.get_output_embeddings(), model.get_input_embeddings()
        if out is not None and out.weight.shape == inp.weight.shape:
            out.weight = inp.weight
    return model, tok, new_head


def has_mlm_head(name: str) -> bool:
    """Whether a checkpoint carries trained MLM head weights (without loading the model)."""
    from fairtune.models import resolve_model

    target, local = resolve_model(name)
    if not local:
        return True  # a hub checkpoint says so when loaded
    from safetensors import safe_open

    for f in Path(target).glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            if any(k.startswith(MLM_HEAD_PREFIXES) or ".predictions." in k for k in st.keys()):  # noqa: SIM118
                return True
    return False


def encode(tokenizer: Any, texts: list[str], max_length: int) -> Any:
    from datasets import Dataset

    enc = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    return Dataset.from_dict(
        {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "special_tokens_mask": enc["special_tokens_mask"],
            "offset_mapping": enc["offset_mapping"],
        }
    )


def collator(tokenizer: Any, mask_probability: float, whole_word: bool, seed: int | None = None) -> Any:
    """Transformers' MLM collator (80/10/10 masking; whole words from the offset mapping). The tokenizer's
    `pad` does not pad offset mappings, so they are padded to the batch's width here first."""
    from collections.abc import Mapping

    from transformers import DataCollatorForLanguageModeling

    class Collator(DataCollatorForLanguageModeling):  # type: ignore[misc]
        def torch_call(self, examples: list[Any]) -> dict[str, Any]:
            if examples and isinstance(examples[0], Mapping) and "offset_mapping" in examples[0]:
                width = max(len(e["input_ids"]) for e in examples)
                left = self.tokenizer.padding_side == "left"
                examples = [
                    {**e, "offset_mapping": _pad_offsets(list(e["offset_mapping"]), width, left)}
                    for e in examples
                ]
            return super().torch_call(examples)  # type: ignore[no-any-return]

    # Transformers does no random-token replacement with whole-word masking: every piece of a chosen word
    # becomes [MASK]. Token-level masking keeps BERT's 80% [MASK] / 10% random / 10% unchanged.
    return Collator(
        tokenizer,
        mlm=True,
        mlm_probability=mask_probability,
        whole_word_mask=whole_word,
        mask_replace_prob=1.0 if whole_word else 0.8,
        random_replace_prob=0.0 if whole_word else 0.1,
        seed=seed,
    )


def _pad_offsets(offsets: list[Any], width: int, left: bool) -> list[Any]:
    pad = [[0, 0]] * (width - len(offsets))
    return pad + offsets if left else offsets + pad


def perplexity(
    model: Any,
    tokenizer: Any,
    data: Any,
    *,
    mask_probability: float,
    whole_word: bool,
    seed: int,
    batch_size: int,
) -> dict[str, float]:
    """Masked-token perplexity on held-out texts, with masks drawn from `seed` (the same before and after
    training, so the two numbers compare)."""
    import torch

    from fairtune.models import eval_mode

    coll = collator(tokenizer, mask_probability, whole_word, seed=seed)
    total, n_tokens = 0.0, 0
    with eval_mode(model), torch.inference_mode():
        for start in range(0, len(data), batch_size):
            rows = [data[i] for i in range(start, min(start + batch_size, len(data)))]
            batch = coll(rows)
            labels = batch["labels"]
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
            k = int((labels != -100).sum())
            total += float(out.loss) * k
            n_tokens += k
    loss = total / max(n_tokens, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "masked_tokens": n_tokens}
