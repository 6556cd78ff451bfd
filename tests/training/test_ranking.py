"""Gradient word ranking for A2T (training/objectives/_ranking.py) and its place in the attack."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from fairtune.config import build_config

WORDNET = Path("/usr/share/wordnet/data.noun").is_file()
TEXTS = [
    "a great movie with a wonderful cast",
    "terrible boring film",
    "the plot was awful but the actors shine",
]


def _model(tiny_config: dict) -> tuple[Any, Any]:
    from fairtune.models import build_classifier

    cfg = build_config(tiny_config)
    torch.manual_seed(0)
    return build_classifier(cfg.model, ["negative", "positive"])


def _examples(texts: list[str], labels: list[int]) -> list[Any]:
    """The attack's examples, every word substitutable (no WordNet needed)."""
    from fairtune.audits.robustness._attack import _Example, _split

    out = []
    for i, (text, y) in enumerate(zip(texts, labels, strict=True)):
        pieces = _split(text)
        slots = list(range(1, len(pieces), 2))
        out.append(_Example(i, text, y, pieces, slots, len(slots), len(slots)))
    return out


def _word_norms_alone(model: Any, tok: Any, text: str, label: int) -> list[float]:
    """Each word's gradient norm, the text run on its own (no padding) and words found by word_ids()."""
    enc = tok([text], return_tensors="pt")
    emb = model.get_input_embeddings()(enc["input_ids"]).detach().requires_grad_(True)
    model.eval()
    loss = torch.nn.functional.cross_entropy(model(inputs_embeds=emb).logits, torch.tensor([label]))
    (grad,) = torch.autograd.grad(loss, emb)
    norms = grad[0].norm(dim=-1).tolist()
    out = [0.0] * len(text.split())
    for t, w in enumerate(enc.word_ids(0)):
        if w is not None:
            out[w] += norms[t]
    return out


def test_gradient_ranking_orders_each_texts_words_by_their_gradient_norm(tiny_config: dict) -> None:
    """A batch padded to its longest text ranks each text as it would alone, one query per text, and
    leaves the model as it found it: training mode, no parameter gradient, the random state untouched."""
    from fairtune.training.objectives._ranking import gradient_ranker

    model, tok = _model(tiny_config)
    labels = [1, 0, 0]
    examples = _examples(TEXTS, labels)
    model.train()
    rng = torch.get_rng_state()
    gradient_ranker(model, tok, 16)(examples)
    assert model.training and torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters())
    for ex, text, y in zip(examples, TEXTS, labels, strict=True):
        norms = _word_norms_alone(model, tok, text, y)
        expected = [ex.word_slots[k] for k in np.argsort([-n for n in norms], kind="stable")]
        assert ex.order == expected and ex.queries == 1
        assert len(set(norms)) == len(norms)  # no ties: the order is the gradient's, not reading order


def test_words_past_the_length_limit_score_zero_and_rank_last(tiny_config: dict) -> None:
    from fairtune.training.objectives._ranking import gradient_ranker, token_word_scores

    spans = {1: (0, 5), 3: (6, 10), 5: (11, 15)}
    assert token_word_scores([(0, 0), (0, 3), (3, 5), (6, 10), (0, 0)], [9.0, 1.0, 2.0, 0.5, 9.0], spans) == {
        1: 3.0,  # two tokens of one word add up; special tokens count for no word
        3: 0.5,
        5: 0.0,  # truncated away
    }
    model, tok = _model(tiny_config)
    (ex,) = _examples([TEXTS[2]], [0])
    gradient_ranker(model, tok, 4)([ex])  # [CLS], two words, [SEP]
    assert ex.order[2:] == ex.word_slots[2:]  # the truncated words keep their reading order, last


@pytest.mark.skipif(not WORDNET, reason="wordnet-base not installed")
def test_the_attack_with_gradient_ranking_spends_one_query_on_ranking(tiny_config: dict) -> None:
    """Leave-one-out ranking costs a query per substitutable word, gradient ranking one per text: with a
    budget that cannot pay for leave-one-out, only gradient ranking gets to try substitutes."""
    from fairtune.audits.robustness import AttackSettings, WordSubstitutionAttack
    from fairtune.data import load_wordnet
    from fairtune.models import TorchClassifier
    from fairtune.training.objectives._ranking import gradient_ranker

    model, tok = _model(tiny_config)
    clf = TorchClassifier(model, tok, max_length=16, precision="fp32")
    texts = ["a great movie with a wonderful cast and a brilliant story"]
    labels = clf.predict_proba(texts).argmax(1)  # attacked as correctly classified
    settings = AttackSettings(max_change=0.5, min_similarity=None, query_budget=4, max_candidates=8)
    attack = WordSubstitutionAttack(clf, load_wordnet(None, "wordnet"), settings)
    (by_deletion,), _ = attack.attack(texts, labels)
    assert by_deletion.reason == "query_budget" and by_deletion.queries == 1 and not by_deletion.order
    (by_gradient,), _ = attack.attack(texts, labels, gradient_ranker(model, tok, 16))
    assert sorted(by_gradient.order) == by_gradient.word_slots and by_gradient.cursor >= 1
    assert 3 <= by_gradient.queries <= 4  # the text's own, the ranking, then substitutes up to the budget


def test_gradient_ranking_is_refused_with_a_tokenizer_that_has_no_offsets(tiny_config: dict) -> None:
    from fairtune.errors import ConfigError
    from fairtune.training.objectives._attack import AttackTraining

    with pytest.raises(ConfigError, match=r"train\.attack\.ranking"):
        build_config({"train": {"attack": {"ranking": "random"}}})
    cfg = build_config({**tiny_config, "train": {**tiny_config["train"], "attack": {"ranking": "gradient"}}})
    slow = SimpleNamespace(is_fast=False, name_or_path="my-model")
    ctx = SimpleNamespace(tokenizer=slow)
    with pytest.raises(ConfigError, match=r"train\.attack\.ranking: 'gradient'.*'my-model'.*leave_one_out"):
        AttackTraining(cfg.train.attack, ctx, 40)  # type: ignore[arg-type]
