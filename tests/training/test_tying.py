"""Term tying (train.tie_terms): which tokens are tied, and that training keeps them tied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from fairtune.config import build_config
from fairtune.data import load_lexicons
from fairtune.errors import ConfigError
from fairtune.training.objectives._tying import swap_sets, tie_groups


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _words(tokenizer: Any, groups: list[list[int]]) -> set[frozenset[str]]:
    return {frozenset(tokenizer.convert_ids_to_tokens(g)) for g in groups}


def test_each_swap_set_ties_its_one_piece_terms_and_never_unk(tokenizer: Any) -> None:
    sets = swap_sets(load_lexicons(["gender", "religion"]), pronouns=False)
    groups, coverage = tie_groups(tokenizer, sets)
    words = _words(tokenizer, groups)
    # the tiny vocabulary has these terms; every other term is [UNK], which is never tied
    pairs = [("men", "women"), ("kings", "queens"), ("actor", "actress"), ("christians", "muslims")]
    assert words == {frozenset(p) for p in pairs}
    assert coverage == {"terms": sum(map(len, sets)), "single_wordpiece_terms": 8}


def test_pronouns_are_tied_only_when_asked(tokenizer: Any) -> None:
    lexicons = load_lexicons(["gender"])
    without = _words(tokenizer, tie_groups(tokenizer, swap_sets(lexicons, pronouns=False))[0])
    with_pronouns = _words(tokenizer, tie_groups(tokenizer, swap_sets(lexicons, pronouns=True))[0])
    assert frozenset({"he", "she"}) not in without and frozenset({"he", "she"}) in with_pronouns


def test_sets_sharing_a_token_merge_into_one_group(tokenizer: Any) -> None:
    groups, _ = tie_groups(tokenizer, [["men", "women"], ["women", "kings"], ["he", "nosuchword"]])
    assert _words(tokenizer, groups) == {frozenset({"men", "women", "kings"})}  # he has no one-piece partner


def test_tied_gradients_are_group_means_over_every_backward_pass_of_a_step() -> None:
    """Adversarial training runs a second backward pass in a step: the tied rows must end with the mean of
    the gradients summed over both, not a sum that counts the first pass once per row."""
    from fairtune.training.objectives._tying import TermTying

    torch.manual_seed(0)
    tied, plain = torch.nn.Embedding(8, 3), torch.nn.Embedding(8, 3)
    groups = [[1, 2], [3, 4, 5]]
    TermTying(tied.weight, groups, {})
    plain.weight.data.copy_(tied.weight.data)
    assert torch.equal(tied.weight[1], tied.weight[2]) and torch.equal(tied.weight[3], tied.weight[5])
    for emb in (tied, plain):
        for ids, scale in (([1, 1, 3, 6], 1.0), ([2, 5, 6], -3.0)):
            (emb(torch.tensor(ids)) * scale * torch.arange(1.0, 4.0)).sum().backward()
    expected = plain.weight.grad.clone()
    for g in groups:
        expected[g] = plain.weight.grad[g].mean(0)
    torch.testing.assert_close(tied.weight.grad, expected)


def _train(raw: dict[str, Any], tmp_path: Path, name: str) -> Path:
    from fairtune.workflows.train import train

    cfg = build_config({**raw, "name": name})
    train(cfg, show_progress=False)
    return tmp_path / "runs" / name


def _rows(run: Path, tokenizer: Any, words: list[str]) -> torch.Tensor:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(run / "model")
    return model.get_input_embeddings().weight[tokenizer.convert_tokens_to_ids(words)].detach()


def test_training_keeps_tied_rows_equal_and_records_what_it_tied(
    tiny_config: dict, tmp_path: Path, tokenizer: Any
) -> None:
    plain = _train(tiny_config, tmp_path, "plain")
    raw = {**tiny_config, "train": {**tiny_config["train"], "tie_terms": {"dimensions": ["gender"]}}}
    tied = _train(raw, tmp_path, "tied")
    a, b = _rows(plain, tokenizer, ["men", "women"])
    assert not torch.equal(a, b)
    a, b = _rows(tied, tokenizer, ["men", "women"])
    assert torch.equal(a, b)  # bit for bit, after every optimizer step
    he, she = _rows(tied, tokenizer, ["he", "she"])
    assert not torch.equal(he, she)  # pronouns were not asked for
    info = json.loads((tied / "metrics.json").read_text())["train"]["objectives"]["term_tying"]
    assert info["groups"] == 3 and info["tokens_tied"] == 6 and info["embeddings_train"] is True


def test_with_lora_the_frozen_embeddings_are_tied_once_and_the_merged_model_keeps_them(
    tiny_config: dict, tmp_path: Path, tokenizer: Any
) -> None:
    raw = {
        **tiny_config,
        "model": {**tiny_config["model"], "lora": {"r": 4, "alpha": 8}},
        "train": {**tiny_config["train"], "tie_terms": {"dimensions": ["gender"]}},
    }
    run = _train(raw, tmp_path, "lora-tied")
    a, b = _rows(run, tokenizer, ["men", "women"])
    assert torch.equal(a, b)
    info = json.loads((run / "metrics.json").read_text())["train"]["objectives"]["term_tying"]
    assert info["embeddings_train"] is False


def test_tying_under_dp_needs_frozen_embeddings(tiny_config: dict) -> None:
    train_cfg = {**tiny_config["train"], "tie_terms": {}, "privacy": {"epsilon": 8}}
    with pytest.raises(ConfigError, match=r"train\.tie_terms with train\.privacy needs frozen embeddings"):
        build_config({**tiny_config, "train": train_cfg})
    train_cfg["privacy"] = {"epsilon": 8, "freeze_embeddings": True}
    assert build_config({**tiny_config, "train": train_cfg}).train.tie_terms is not None
