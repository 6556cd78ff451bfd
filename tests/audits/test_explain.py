"""Explanations: word units, the three methods, faithfulness against a random baseline, bad input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from fairtune.audits.explain import Explanation, Words, audit_explain, explain, faithfulness, merge_pieces
from fairtune.audits.explain._audit import global_tokens, random_rankings, rank_agreement
from fairtune.config import ExplainAuditConfig
from fairtune.data import LabelledData
from fairtune.errors import FairtuneError


class KeywordClassifier:
    """Black box: p(positive) rises with each positive word and falls with each negative one."""

    labels = ["negative", "positive"]  # noqa: RUF012

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        z = np.array(
            [
                2.0 * sum(w in ("great", "fun") for w in t.lower().split())
                - 2.0 * sum(w in ("dull", "bad") for w in t.lower().split())
                for t in texts
            ]
        )
        p = 1 / (1 + np.exp(-z - 0.1))
        return np.stack([1 - p, p], axis=1)


TEXTS = [
    "the movie was great and the plot was long",
    "a dull film with a long story",
    "it is a film , and it was fun to see",
    "the acting was bad , the plot was a story",
]


def test_words_keep_and_remove_with_the_original_spacing() -> None:
    w = Words.of("It's great, really!  Fun")
    assert w.tokens == ["It's", "great", ",", "really", "!", "Fun"]
    assert w.without([1]) == "It's, really!  Fun"
    assert w.keep([1, 3]) == "great really"
    assert w.without([2, 3, 4]) == "It's great  Fun"
    assert Words.of("well-made").without([1]) == "well made"  # no new word "wellmade"
    assert w.head(2).text == "It's great" and len(w.head(2)) == 2


def test_word_pieces_merge_onto_words_by_offsets() -> None:
    w = Words.of("unbelievably good")
    # [CLS] un ##bel ##ievably good [SEP]
    offsets = [(0, 0), (0, 2), (2, 5), (5, 12), (13, 17), (0, 0)]
    assert merge_pieces(w, offsets, [9.0, 0.1, 0.2, 0.3, 1.0, 9.0]) == pytest.approx([0.6, 1.0])


@pytest.mark.parametrize("method", ["occlusion", "shap"])
def test_black_box_methods_find_the_words_that_decide(method: str) -> None:
    if method == "shap":
        pytest.importorskip("shap")
    out = explain(KeywordClassifier(), TEXTS, method)
    decisive = ["great", "dull", "fun", "bad"]
    for e, word in zip(out, decisive, strict=True):
        assert e.words[int(np.argmax(e.scores))] == word, (e.words, e.scores)
        assert e.label == ("positive" if word in ("great", "fun") else "negative")
        assert e.convergence_delta is None
        # words with no effect on the model get (almost) nothing
        neutral = [s for w, s in zip(e.words, e.scores, strict=True) if w not in decisive]
        assert max(abs(s) for s in neutral) < 0.05


def test_occlusion_batches_all_variants_in_one_call() -> None:
    clf = KeywordClassifier()
    explain(clf, TEXTS, "occlusion")
    assert clf.calls == 2  # the texts themselves, then every leave-one-out variant of every text


def test_faithful_rankings_beat_random_ones() -> None:
    clf = KeywordClassifier()
    ex = explain(clf, TEXTS * 5, "occlusion")
    comp, suff = faithfulness(clf, ex, [0.1, 0.2, 0.5])
    rcomp, rsuff = faithfulness(clf, ex, [0.1, 0.2, 0.5], random_rankings(ex, 0))
    assert comp.mean() > 2 * rcomp.mean()
    assert suff.mean() < rsuff.mean()
    # an inverted ranking (most decisive word last) is worse than random
    inverted = [list(np.argsort(e.scores, kind="stable")) for e in ex]
    icomp, _ = faithfulness(clf, ex, [0.1, 0.2, 0.5], inverted)
    assert icomp.mean() < rcomp.mean()


def test_ig_is_refused_on_a_black_box_model_with_the_methods_that_work() -> None:
    with pytest.raises(FairtuneError) as err:
        explain(KeywordClassifier(), TEXTS, "ig")
    msg = str(err.value)
    assert "'ig' needs gradients" in msg and "KeywordClassifier" in msg and "occlusion, shap" in msg


@pytest.mark.parametrize(
    ("texts", "expect"),
    [
        ([""], "is empty"),
        (["fine", "   "], "text 2 is empty"),
        (["?!… ### ***"], "only special characters"),
    ],
)
def test_bad_texts_get_clear_errors(texts: list[str], expect: str) -> None:
    with pytest.raises(FairtuneError, match=expect):
        explain(KeywordClassifier(), texts, "occlusion")


def test_unknown_method_names_the_ones_that_exist() -> None:
    with pytest.raises(FairtuneError, match="ig, occlusion, shap"):
        explain(KeywordClassifier(), TEXTS, "lime")


def test_global_tokens_rank_words_per_label_and_drop_rare_ones() -> None:
    def ex(words: list[str], scores: list[float], target: int) -> Explanation:
        spans = [(i, i + 1) for i in range(len(words))]
        return Explanation(" ".join(words), "x", words, spans, scores, "l", target, 0.9)

    expls = [ex(["great", "film", "!"], [0.5, 0.1, 0.9], 1)] * 3 + [ex(["rare"], [0.9], 1)]
    expls += [ex(["dull", "film"], [0.4, 0.0], 0)] * 3
    g = global_tokens(expls, ["negative", "positive"], top=5, min_count=2)
    assert [r["word"] for r in g["positive"]] == ["great", "film"]  # "!" is punctuation, "rare" too rare
    assert g["positive"][0] == {"word": "great", "mean": 0.5, "count": 3}
    assert g["negative"][0]["word"] == "dull"


def test_rank_agreement_is_one_for_the_same_order_and_minus_one_reversed() -> None:
    def ex(scores: list[float]) -> Explanation:
        return Explanation("a b c d", "x", list("abcd"), [(0, 1)] * 4, scores, "l", 0, 0.5)

    assert rank_agreement([ex([1, 2, 3, 4])], [ex([10, 20, 30, 40])]) == pytest.approx(1.0)
    assert rank_agreement([ex([1, 2, 3, 4])], [ex([4, 3, 2, 1])]) == pytest.approx(-1.0)
    assert rank_agreement([ex([1, 1, 1, 1])], [ex([4, 3, 2, 1])]) is None  # constant: no ranking


def test_audit_on_a_black_box_model_without_ig() -> None:
    data = LabelledData(TEXTS * 10, np.array([1, 0, 1, 0] * 10), source="mem")
    cfg = ExplainAuditConfig(methods=["occlusion"], sample=20, global_rows=None, min_count=5, examples=1)
    res = audit_explain(KeywordClassifier(), data, cfg)
    m = res.metrics
    assert m["occlusion_comprehensiveness"] > 2 * m["random_comprehensiveness"]
    assert m["occlusion_sufficiency"] < m["random_sufficiency"]
    assert "occlusion_stability" not in m  # deterministic: no number is claimed
    assert "deterministic" in res.details["methods"]["occlusion"]["stability_basis"]
    g = res.details["global"]
    assert g["texts"] == 40 and g["per_class"]["positive"][0]["word"] in ("great", "fun")
    assert [x["kind"] for x in res.examples] == ["confident_correct"]  # the keyword model is never wrong


def test_audit_refuses_ig_on_a_black_box_model_naming_the_field() -> None:
    data = LabelledData(TEXTS, np.array([1, 0, 1, 0]), source="mem")
    with pytest.raises(FairtuneError, match=r"audit\.explain\.methods: 'ig' needs gradients"):
        audit_explain(KeywordClassifier(), data, ExplainAuditConfig(methods=["ig"]))


# --- integrated gradients on a real (tiny) transformer, trained in the module fixture ----------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path):
    from fairtune.config import build_config
    from fairtune.models import TorchClassifier
    from fairtune.testing import tiny_sentiment_rows, write_csv
    from fairtune.workflows.train import train

    root = tmp_path_factory.mktemp("explain")
    write_csv(root / "train.csv", tiny_sentiment_rows(96, seed=1))
    write_csv(root / "eval.csv", tiny_sentiment_rows(32, seed=2))
    cfg = build_config(
        {
            "name": "expl",
            "output_dir": str(root / "runs"),
            "seed": 7,
            "data": {"train": str(root / "train.csv"), "eval": str(root / "eval.csv"), "max_length": 16},
            "model": {"name": str(tiny_model_dir)},
            # Gentler than other tests' lr 1e-2: an over-confident tiny model jumps from one label to the
            # other within one integration step, which IG's convergence delta rightly reports.
            "train": {"epochs": 10, "batch_size": 8, "lr": 2e-3, "warmup_ratio": 0.1, "precision": "fp32"},
        }
    )
    train(cfg, show_progress=False)
    return TorchClassifier.from_dir(root / "runs" / "expl" / "model", max_length=16, precision="fp32")


def test_ig_attributions_add_up_to_the_change_in_probability(tiny_model_dir: Path) -> None:
    """Completeness (Sundararajan et al. 2017) on a smooth model: an untrained tiny BERT whose
    classifier weights are scaled up so that the probabilities move."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from fairtune.models import TorchClassifier

    torch.manual_seed(1)  # the head is initialised afresh: not from whatever ran before in this process
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    with torch.no_grad():
        model.classifier.weight.mul_(40)
    clf = TorchClassifier(
        model, AutoTokenizer.from_pretrained(tiny_model_dir), max_length=16, precision="fp32"
    )
    texts = ["the movie was great", "a dull plot and the acting", "it is a very fun film"]
    for text, e in zip(texts, explain(clf, texts, "ig"), strict=True):
        ids = clf.tokenizer(text, return_tensors="pt")["input_ids"]
        ids[0, 1:-1] = clf.tokenizer.pad_token_id  # the baseline: word pieces padded, [CLS]/[SEP] kept
        with torch.no_grad():
            base = torch.softmax(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, -1)[0]
        change = e.probability - float(base[e.target])
        assert abs(change) > 1e-4  # small (the model is untrained) but well above the tolerance below
        assert sum(e.scores) == pytest.approx(change, abs=2e-6)
        assert e.convergence_delta is not None and e.convergence_delta < 2e-6


def test_ig_points_at_the_sentiment_word_and_reports_when_it_has_not_converged(trained) -> None:
    from fairtune.audits.explain import ExplainSettings
    from fairtune.testing import NEGATIVE, POSITIVE

    texts = ["the movie was great", "a dull plot and the acting", "it is a very fun film", "bad story"]
    probs = trained.predict_proba(texts)
    # The tiny model flips label within a sliver of the integration path: 50 steps miss it, and the
    # convergence delta says so; 400 steps catch it.
    coarse = explain(trained, texts, "ig", settings=ExplainSettings(ig_steps=50))
    fine = explain(trained, texts, "ig", settings=ExplainSettings(ig_steps=400))
    assert max(e.convergence_delta or 0 for e in coarse) > 0.2
    moved = 0
    for e, text, p in zip(fine, texts, probs, strict=True):
        assert e.label == trained.labels[int(p.argmax())]
        assert e.convergence_delta is not None and e.convergence_delta < 0.05
        if abs(sum(e.scores)) > 0.5:  # the text moves p(label) away from the baseline's: words matter
            moved += 1
            top = e.words[int(np.argmax(e.scores))]
            assert top in POSITIVE + NEGATIVE, (text, e.words, e.scores)
    assert moved >= 2


def test_adaptive_ig_adds_steps_only_where_the_delta_is_large(trained) -> None:
    """ig_max_delta: texts over it are redone with doubled steps up to ig_max_steps; the others keep the
    first pass exactly."""
    from fairtune.audits.explain import ExplainSettings

    texts = ["the movie was great", "a dull plot and the acting", "it is a very fun film", "bad story"]
    first = explain(trained, texts, "ig", settings=ExplainSettings(ig_steps=8))
    limit = float(np.median([e.convergence_delta or 0.0 for e in first]))
    adaptive = explain(
        trained, texts, "ig", settings=ExplainSettings(ig_steps=8, ig_max_delta=limit, ig_max_steps=64)
    )
    assert {e.steps for e in first} == {8}
    redone = 0
    for a, b in zip(first, adaptive, strict=True):
        assert a.convergence_delta is not None and b.convergence_delta is not None
        if a.convergence_delta <= limit:
            assert b.steps == 8 and b.scores == a.scores
        else:
            redone += 1
            assert b.steps in (16, 32, 64)
            assert b.convergence_delta <= limit or b.steps == 64  # stopped when small enough, or at the cap
    assert redone >= 1
    # a limit nobody meets: every text ends at the cap
    capped = explain(
        trained, texts, "ig", settings=ExplainSettings(ig_steps=8, ig_max_delta=1e-12, ig_max_steps=32)
    )
    assert {e.steps for e in capped} == {32}


def test_ig_batching_does_not_change_the_attributions(trained) -> None:
    from fairtune.audits.explain import ExplainSettings

    texts = ["the movie was great", "a dull plot and the acting", "it is a very fun film"]
    one = explain(trained, texts, "ig", settings=ExplainSettings(ig_internal_batch_size=50))
    many = explain(trained, texts, "ig", settings=ExplainSettings(ig_internal_batch_size=400))
    for a, b in zip(one, many, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-4)


def test_long_text_is_cut_where_the_model_stops_reading(trained) -> None:
    warnings: list[str] = []
    text = " ".join(["the film was great"] * 8)
    (e,) = explain(trained, [text], "ig", warn=warnings.append)
    assert e.truncated and e.truncated_at is not None and e.truncated_at < len(text)
    assert len(e.words) == 14  # 16 tokens minus [CLS] and [SEP]
    assert warnings and "longer than the model's maximum (16 tokens)" in warnings[0]
    assert e.text == text  # the whole text is kept; the cut is marked


def test_ig_stability_across_step_counts_is_high(trained) -> None:
    from fairtune.audits.explain import ExplainSettings

    texts = ["the movie was great and fun", "a dull plot and the acting was bad"]
    a = explain(trained, texts, "ig", settings=ExplainSettings(ig_steps=50))
    b = explain(trained, texts, "ig", settings=ExplainSettings(ig_steps=20))
    rho = rank_agreement(a, b)
    assert rho is not None and rho > 0.9


def test_ig_works_when_the_embeddings_are_frozen_as_in_lora(trained) -> None:
    weights = [p for p in trained.model.parameters()]
    flags = [p.requires_grad for p in weights]
    for p in weights:
        p.requires_grad_(False)  # what PEFT does to the base model
    try:
        (e,) = explain(trained, ["the movie was great"], "ig")
        assert max(abs(s) for s in e.scores) > 1e-4  # real attributions, not zeros from a cut graph
        assert not any(p.requires_grad for p in weights)  # and the model is left as it was
    finally:
        for p, f in zip(weights, flags, strict=True):
            p.requires_grad_(f)


def test_shap_explains_a_one_word_text_exactly() -> None:
    pytest.importorskip("shap")
    clf = KeywordClassifier()
    (e,) = explain(clf, ["great"], "shap")
    p = clf.predict_proba(["great", "..."])
    t = clf.labels.index(e.label)
    # one word: its SHAP value is all of the change from the masked text (the efficiency property)
    assert e.words == ["great"] and e.scores == pytest.approx([p[0, t] - p[1, t]])
