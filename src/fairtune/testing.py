"""Tiny models and data built in code, so tests and examples run the real entry points in seconds."""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

POSITIVE = ["good", "great", "fine", "lovely", "superb", "happy", "brilliant", "fun"]
NEGATIVE = ["bad", "awful", "poor", "boring", "terrible", "sad", "dull", "ugly"]
FILLER = ["the", "movie", "film", "plot", "was", "is", "a", "very", "acting", "story", "and", "it"]
#: Identity terms from the packaged gender and religion lexicons, so fairness tests can swap them.
IDENTITY = ["men", "women", "kings", "queens", "actor", "actress", "christians", "muslims", "he", "she"]


def make_tiny_bert(path: str | Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a randomly initialised 2-layer BERT (hidden 32) plus a word-level tokenizer to `path`.

    The folder is a valid Hugging Face model directory (config.json, model.safetensors, tokenizer
    files), so it exercises the same loading code as a real foundation model.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *sorted(set(POSITIVE + NEGATIVE + FILLER + IDENTITY)),
    ]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        type_vocab_size=2,
    )
    BertModel(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def tiny_sentiment_rows(n: int, *, seed: int = 0) -> list[tuple[str, str]]:
    """`n` short (text, label) rows whose label is decided by one sentiment word: learnable fast."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        word = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        words = rng.sample(FILLER, rng.randint(2, 6))
        words.insert(rng.randint(0, len(words)), word)
        rows.append((" ".join(words), label))
    return rows


def tiny_biased_rows(n: int, *, seed: int = 0) -> list[tuple[str, str]]:
    """Like `tiny_sentiment_rows`, but a quarter of the rows carry no sentiment word and are labelled
    by a gender noun alone ("men" positive, "women" negative): a model trained on them learns the
    bias that counterfactual augmentation and logit pairing should remove."""
    rng = random.Random(seed)
    rows = tiny_sentiment_rows(n - n // 4, seed=seed)
    for i in range(n // 4):
        label = "positive" if i % 2 == 0 else "negative"
        words = rng.sample(FILLER, rng.randint(2, 5))
        words.insert(rng.randint(0, len(words)), "men" if label == "positive" else "women")
        rows.append((" ".join(words), label))
    rng.shuffle(rows)
    return rows


def write_csv(
    path: str | Path, rows: Sequence[tuple[object, ...]], header: tuple[str, ...] = ("text", "label")
) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def tiny_run_config(root: str | Path, model_dir: str | Path, *, name: str = "tiny") -> dict[str, Any]:
    """A raw config that trains the tiny model (`make_tiny_bert`) in a few seconds: 96 training and 32
    eval rows of `tiny_sentiment_rows` written into `root`, 16 tokens, fp32, runs in root/runs/<name>."""
    root = Path(root)
    return {
        "name": name,
        "output_dir": str(root / "runs"),
        "seed": 7,
        "data": {
            "train": str(write_csv(root / "train.csv", tiny_sentiment_rows(96, seed=1))),
            "eval": str(write_csv(root / "eval.csv", tiny_sentiment_rows(32, seed=2))),
            "max_length": 16,
        },
        "model": {"name": str(model_dir)},
        "train": {"batch_size": 8, "lr": 1e-2, "precision": "fp32"},
    }


#: Words the tiny model's tokenizer and the lexicons do not hold: text made of them has drifted.
UNSEEN = ["zebra", "quantum", "invoice", "turbine", "glacier", "harbour", "protocol", "saffron"]


def shifted_texts(n: int, *, seed: int = 3) -> list[str]:
    """Long texts of identity terms, filler and words the model has never seen ([UNK]): a window that
    differs from `tiny_sentiment_rows` in length, vocabulary and identity-term mix."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.choices(IDENTITY, k=6) + rng.choices(FILLER, k=8) + rng.choices(UNSEEN, k=10)
        rng.shuffle(words)
        out.append(" ".join(words))
    return out
