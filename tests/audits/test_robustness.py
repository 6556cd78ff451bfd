"""Robustness: perturbations, the constrained word-substitution attack, and the audit's bad input."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from fairtune.audits.robustness import AttackSettings, Perturbations, WordSubstitutionAttack, audit_robustness
from fairtune.audits.robustness import _perturb as P
from fairtune.config import RobustnessAuditConfig
from fairtune.data import LabelledData

HAS_WORDNET = Path("/usr/share/wordnet/data.noun").is_file()
needs_wordnet = pytest.mark.skipif(not HAS_WORDNET, reason="Debian wordnet-base not installed")


@pytest.fixture(scope="module")
def wn():
    from fairtune.data import load_wordnet

    return load_wordnet()


class WordClassifier:
    """p(positive) = 0.9 when a trigger word is present, else 0.1: black box, known weak spot."""

    def __init__(self, trigger: str = "good") -> None:
        self.labels = ["negative", "positive"]
        self.trigger = trigger
        self.seen: list[str] = []

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += list(texts)
        p = np.array([0.9 if self.trigger in t.lower().split() else 0.1 for t in texts])
        return np.stack([1 - p, p], axis=1)


def test_typos_change_one_letter_of_one_content_word() -> None:
    rng = random.Random(0)
    text = "the acting in this picture was wonderful"
    for fn, dlen in ((P.typo_adjacent_key, 0), (P.typo_drop, -1), (P.typo_insert, 1)):
        out = fn(text, rng)
        assert out is not None and len(out) == len(text) + dlen
        changed = [(a, b) for a, b in zip(text.split(), out.split(), strict=True) if a != b]
        assert len(changed) == 1 and changed[0][0] not in {"the", "in", "this", "was"}
    assert P.typo_drop("a an it", rng) is None  # nothing long enough: the test does not apply


def test_contractions_numbers_punctuation_and_case() -> None:
    rng = random.Random(0)
    assert (
        P.contraction_expand("it 's fun but i ca n't stay , do n't go", rng)
        == "it is fun but i cannot stay , do not go"
    )
    assert P.contraction_expand("It's great and I can't wait", rng) == "It is great and I cannot wait"
    assert P.contraction_contract("it is not what i have seen", rng) == "it's not what i've seen"
    assert P.contraction_expand("no contraction here", rng) is None
    out = P.number_change("made 12 films in 1999", rng)
    assert out is not None and out != "made 12 films in 1999" and len(out) == len("made 12 films in 1999")
    assert P.punctuation_remove("a fine , funny film .", rng) == "a fine funny film"
    assert P.punctuation_add("a fine film", rng) in {
        "a fine film.",
        "a fine film!",
        "a fine film .",
        "a fine film !",
    }
    assert P.punctuation_add("a fine film .", rng) is None
    assert P.case_upper("Fine", rng) == "FINE" and P.case_lower("fine", rng) is None


@needs_wordnet
def test_name_swap_and_noun_synonyms(wn) -> None:
    rng = random.Random(1)
    p = Perturbations(wn, {"male": ["john", "paul"], "female": ["mary", "anne"]})
    assert p.name_swap("John liked it", rng) == "Paul liked it"
    out = p.synonym_noun("the movie was fine", rng)
    assert out is not None and out.startswith("the ") and out.endswith(" was fine") and "movie" not in out
    assert set(p.all()) >= {"typo_adjacent_key", "contraction_expand", "synonym_noun", "name_swap"}


@needs_wordnet
def test_attack_flips_through_a_synonym_within_constraints(wn) -> None:
    clf = WordClassifier("good")
    texts = ["the acting in this old picture was good", "good", "the plot of this long picture was dull"]
    out = WordSubstitutionAttack(clf, wn, AttackSettings(min_similarity=None)).run(texts, np.array([1, 1, 0]))
    assert out["skipped"] == {"misclassified": 0, "too_short": 1, "no_substitutable_word": 0}
    assert out["attacked"] == 2 and out["succeeded"] == 1 and out["attack_success_rate"] == 0.5
    adv = out["adversarial"][0]
    assert adv["index"] == 0 and "good" not in adv["adversarial"].split() and adv["words_changed"] == 1
    assert out["accuracy_under_attack"] == pytest.approx(2 / 3)
    assert out["constraints"]["max_words_changed_share"] == 0.2


@needs_wordnet
def test_random_substitution_swaps_the_attacks_own_candidates_without_a_model(wn) -> None:
    from fairtune.audits.robustness._attack import Synonyms, random_substitution

    settings = AttackSettings(min_similarity=None, max_change=0.2)
    synonyms = Synonyms(wn, settings)
    text = "The acting in this old picture was good, and the plot was dull."
    out = {random_substitution(text, synonyms, settings.max_change, random.Random(s)) for s in range(20)}
    assert None not in out and text not in out and len(out) > 5  # a random copy each time
    for new in out:
        old_words, new_words = text.split(), new.split()
        changed = [(a, b) for a, b in zip(old_words, new_words, strict=True) if a != b]
        assert len(changed) == 2  # max_change of 13 words, rounded down
        for a, b in changed:  # the attack's candidates, case and punctuation kept
            bare = a.strip(",.")
            assert b.strip(",.").lower() in synonyms(bare) and b[0].isupper() == a[0].isupper()
            assert a[len(bare) :] == b[len(b.strip(",.")) :]
    assert random_substitution("this is not it", synonyms, 1.0, random.Random(0)) is None  # stop words only
    short = "a good old picture"  # four words: the attack may change none of them at 0.2
    assert random_substitution(short, synonyms, 0.2, random.Random(0)) is None
    assert random_substitution(short, synonyms, 0.5, random.Random(0)) not in (None, short)


@needs_wordnet
def test_attack_respects_stop_words_budget_and_similarity(wn) -> None:
    texts = ["this is not the picture that i would see again"]
    # the weak spot is a stop word: never substituted, so the attack must fail
    out = WordSubstitutionAttack(
        WordClassifier("not"), wn, AttackSettings(min_similarity=None, max_change=1.0)
    ).run(texts, np.array([1]))
    assert out["succeeded"] == 0 and out["attacked"] == 1
    # a budget too small for the ranking: counted as a failure, and no more queries than the budget
    clf = WordClassifier("picture")
    out = WordSubstitutionAttack(
        clf, wn, AttackSettings(min_similarity=None, query_budget=2, max_change=1.0)
    ).run(texts, np.array([1]))
    assert out["failures"]["query_budget"] == 1 and out["queries_per_example"] <= 2

    class Dissimilar:
        def similarity(self, a: str, others: list[str]) -> np.ndarray:
            return np.zeros(len(others))

    out = WordSubstitutionAttack(
        WordClassifier("picture"),
        wn,
        AttackSettings(min_similarity=0.85, max_change=1.0),
        Dissimilar(),  # type: ignore[arg-type]
    ).run(texts, np.array([1]))
    assert out["succeeded"] == 0
    out = WordSubstitutionAttack(
        WordClassifier("picture"), wn, AttackSettings(min_similarity=None, max_change=1.0)
    ).run(texts, np.array([1]))
    assert out["succeeded"] == 1


@needs_wordnet
def test_audit_on_a_black_box_and_its_bad_input(wn) -> None:
    from fairtune.errors import DataError

    data = LabelledData(
        ["the acting in this old picture was good", "the plot of this long picture was dull", "ok"],
        np.array([1, 0, 1]),
        None,
        "unit",
    )
    res = audit_robustness(
        WordClassifier("good"),
        data,
        RobustnessAuditConfig(sample=10, min_similarity=None),
        wordnet=wn,
        encoder=None,
    )
    # "good" falls to a synonym; nothing can make the dull one positive; "ok" is misclassified already
    assert res.metrics["attack_success_rate"] == 0.5
    assert res.details["attack"]["skipped"]["misclassified"] == 1
    inv = res.details["invariance"]["perturbations"]
    assert inv["case_upper"]["applied"] == 3 and inv["case_upper"]["failure_rate"] == 0  # it lowercases
    assert inv["typo_drop"]["applied"] == 2 and inv["number_change"]["applied"] == 0
    rates = [v["failure_rate"] for v in inv.values() if v["applied"]]
    assert res.metrics["invariance_failure_rate"] == pytest.approx(sum(rates) / len(rates))
    with pytest.raises(DataError, match="the eval set is empty after filtering"):
        audit_robustness(
            WordClassifier(),
            LabelledData([" "], np.array([0]), None, "u"),
            RobustnessAuditConfig(),
            wordnet=wn,
            encoder=None,
        )


def test_constraint_out_of_range_is_a_config_error_naming_the_field() -> None:
    from fairtune.config import build_config
    from fairtune.errors import ConfigError

    with pytest.raises(ConfigError, match=r"audit\.robustness\.max_change"):
        build_config({"audit": {"robustness": {"max_change": 1.5}}})
    with pytest.raises(ConfigError, match=r"audit\.robustness\.min_similarity"):
        build_config({"audit": {"robustness": {"min_similarity": -0.1}}})


def test_missing_wordnet_says_how_to_install(tmp_path: Path) -> None:
    from fairtune.data import prepare_wordnet
    from fairtune.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"audit.robustness.wordnet: WordNet not found at .*apt-get install"
    ):
        prepare_wordnet(str(tmp_path), "audit.robustness.wordnet")
