from __future__ import annotations

import numpy as np

from fairtune.training import collate, epoch_batches


def _padding(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_epoch_batches_cover_each_index_once_and_are_pure() -> None:
    lengths = list(np.random.default_rng(0).integers(3, 60, size=1000))
    a = epoch_batches(lengths, 32, seed=1, epoch=0, group_by_length=True)
    assert sorted(i for b in a for i in b) == list(range(1000))
    assert a == epoch_batches(lengths, 32, seed=1, epoch=0, group_by_length=True)
    assert a != epoch_batches(lengths, 32, seed=1, epoch=1, group_by_length=True)
    assert a != epoch_batches(lengths, 32, seed=2, epoch=0, group_by_length=True)


def test_length_grouping_cuts_padding() -> None:
    lengths = list(np.random.default_rng(0).integers(3, 60, size=2000))
    grouped = epoch_batches(lengths, 32, seed=0, epoch=0, group_by_length=True)
    plain = epoch_batches(lengths, 32, seed=0, epoch=0, group_by_length=False)
    assert _padding(lengths, grouped) < 0.1 * _padding(lengths, plain)


def test_collate_pads_to_longest_in_batch() -> None:
    enc = [[2, 5, 3], [2, 5, 6, 7, 3], [2, 3]]
    batch = collate(enc, [0, 2], np.array([1, 0, 1]), pad_id=0)
    assert batch["input_ids"].tolist() == [[2, 5, 3], [2, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [1, 1]
