"""Robustness: the wording perturbations (word lists, OCR, layout, numbers, ages, pronouns, context,
chains) and how the audit chooses among them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fairtune.audits.robustness import _wording as W
from fairtune.audits.robustness._audit import ChosenPerturbations
from fairtune.audits.robustness._perturb import Perturbations, perturbation_names
from fairtune.config import RobustnessAuditConfig

HAS_WORDNET = Path("/usr/share/wordnet/data.noun").is_file()


def rng() -> random.Random:
    return random.Random(0)


@pytest.mark.parametrize(
    ("name", "text", "allowed"),
    [
        ("typo_homophone", "I knew it", {"I new it"}),
        ("typo_dyslexia", "Quite good", {"Quiet good"}),
        ("abbreviation", "To be honest, fine", {"Tbh, fine"}),
        ("abbreviation", "see you tonight", {"see u tonight", "see you 2nite"}),
        (
            "slang",
            "a Movie with friends",
            {"a Flick with friends", "a Movie with buddies", "a Movie with pals"},
        ),
        ("spelling_us_to_uk", "my favorite color", {"my favourite color", "my favorite colour"}),
        ("spelling_uk_to_us", "the THEATRE", {"the THEATER"}),
    ],
)
def test_word_lists_swap_one_phrase_keeping_case(name: str, text: str, allowed: set[str]) -> None:
    out = W.list_perturbations()[name](text, rng())
    assert out in allowed


def test_word_lists_need_whole_words() -> None:
    lists = W.list_perturbations()
    assert lists["typo_homophone"]("knewly forgotten", rng()) is None  # 'knew' inside a word
    assert lists["spelling_uk_to_us"]("no british words here", rng()) is None
    assert W.word_sets("homophones")["there"] == ["their", "they're"]
    assert W.word_map("spelling", reverse=True)["colour"] == ["color"]


def test_ocr_case_and_layout() -> None:
    out = W.typo_ocr("a modern film", rng())
    assert out is not None and out != "a modern film" and out.startswith("a ")
    assert W.typo_ocr("a an the", rng()) is None  # stop words only
    assert W.case_title("it's a don't-miss film", rng()) == "It's A Don't-miss Film"
    assert W.case_title("Already Title", rng()) is None
    nl = W.whitespace_newline("one two three four five six", rng())
    assert (
        nl is not None and 1 <= nl.count("\n") <= 3 and nl.replace("\n", " ") == "one two three four five six"
    )
    assert W.whitespace_tab("too short text", rng()) is None


def test_numbers_and_ages() -> None:
    assert W.number_to_word("made 12 films", rng()) == "made twelve films"
    assert W.number_to_word("born in 1999", rng()) == "born in nineteen ninety-nine"
    assert W.number_to_word("a 3.5 rating", rng()) is None  # not an integer
    assert W.number_to_word("no digits", rng()) is None
    for text in ("a 25 years old lead", "a 25-year-old lead", "aged 25, she"):
        out = W.age_shift(text, rng())
        assert out is not None and out != text
        age = int("".join(ch for ch in out if ch.isdigit()))
        assert 20 <= age <= 30 and age != 25
    assert W.age_shift("25 films", rng()) is None


def test_pronouns_become_they_with_agreement() -> None:
    out = W.pronoun_neutral("She is funny and her film made him laugh; he was moved by hers.", rng())
    assert out == "They are funny and their film made them laugh; they were moved by theirs."
    assert W.pronoun_neutral("I saw her .", rng()) == "I saw them ."
    assert W.pronoun_neutral("the cast was fine", rng()) is None


def test_context_and_chain() -> None:
    add = W.context_adder(["Before:"], ["After."])
    outs = {add("a film", random.Random(s)) for s in range(20)}
    assert outs == {"Before: a film", "a film After."}
    assert W.context_adder([], [])("a film", rng()) is None
    steps = {"upper": lambda t, r: t.upper(), "bang": lambda t, r: t + "!", "none": lambda t, r: None}
    multiple = W.chain(steps, length=3)
    assert multiple("a film", rng()) == "A FILM!"  # in either order
    assert W.chain({"none": steps["none"], "upper": steps["upper"]}, length=2)("a film", rng()) is None


def test_core_set_is_unchanged_and_all_adds_the_wording_tests() -> None:
    p = Perturbations(None, {"male": ["john", "paul"]})
    core = set(p.core())
    assert core == {
        "typo_adjacent_key", "typo_drop", "typo_insert", "case_upper", "case_lower", "punctuation_add",
        "punctuation_remove", "contraction_expand", "contraction_contract", "number_change", "name_swap",
    }  # fmt: skip
    added = set(p.all()) - core
    assert {"case_title", "typo_ocr", "typo_homophone", "pronoun_neutral", "multiple", "context_add"} <= added
    assert {"synonym_noun", "synonym_adjective"} <= set(perturbation_names())


@pytest.mark.skipif(not HAS_WORDNET, reason="Debian wordnet-base not installed")
def test_adjective_synonym() -> None:
    from fairtune.data import load_wordnet

    p = Perturbations(load_wordnet(), None)
    out = p.synonym_adjective("she is funny", rng())
    assert out is not None and out.startswith("she is ") and "funny" not in out


def test_config_chooses_perturbations_and_preflight_names_unknown_ones() -> None:
    from fairtune.audits.robustness._plugin import preflight
    from fairtune.config import FairtuneConfig

    cfg = RobustnessAuditConfig(perturbations=["case_title", "slang"], context_before=["Hi:"])
    assert set(ChosenPerturbations(cfg, None).all()) == {"case_title", "slang"}
    full = FairtuneConfig.model_validate(
        {"name": "t", "data": {"train": "x.csv"}, "audit": {"robustness": {"perturbations": ["casetitle"]}}}
    )
    problems = preflight(full)
    assert any("'casetitle'" in p and "case_title" in p for p in problems)
