"""Tokenize once, group by length, and pad each batch only to its own longest text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]  # type: ignore[no-any-return]


def epoch_batches(
    lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int, group_by_length: bool, mega: int = 50
) -> list[list[int]]:
    """The batches of one epoch, a pure function of (seed, epoch), so resume can skip exactly.

    With length grouping (as HF's LengthGroupedSampler): shuffle, cut into mega-batches of
    `mega * batch_size`, sort each by length, cut into batches, then shuffle the batch order.
    """
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    if not group_by_length:
        return [perm[i : i + batch_size].tolist() for i in range(0, len(perm), batch_size)]
    lens = np.asarray(lengths)
    batches: list[list[int]] = []
    step = mega * batch_size
    for start in range(0, len(perm), step):
        chunk = perm[start : start + step]
        chunk = chunk[np.argsort(-lens[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size].tolist() for i in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def collate(
    encoded: Sequence[Sequence[int]], idx: Sequence[int], labels: np.ndarray | None, pad_id: int
) -> dict[str, torch.Tensor]:
    """Pad the rows `idx` to the longest among them; explicit position and token-type ids."""
    width = max(len(encoded[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        seq = encoded[i]
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if labels is not None:
        batch["labels"] = torch.as_tensor(labels[list(idx)], dtype=torch.long)
    return batch
