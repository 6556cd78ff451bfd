"""Swapping identity terms: case, multi-word terms, articles, pronoun grammar, other lexicons' terms."""

from __future__ import annotations

import numpy as np
import pytest

from fairtune.data import (
    LabelledData,
    augment,
    load_lexicons,
    make_counterfactuals,
    make_swappers,
    parse_lexicon,
)

LEX = parse_lexicon(
    "# source: test\n@groups\tmale\tfemale\nkings\tqueens\nactor\tactress\ngrandpa\tgrandma\n"
    "best man\tmaid of honor\n",
    "t.tsv",
    "gender",
)


@pytest.fixture(scope="module")
def swappers() -> dict:
    lexicons = load_lexicons(["gender", "race", "religion", "nationality"])
    return {s.lexicon.dimension: s for s in make_swappers(lexicons, pronouns=True)}


def swap_all(sw, text: str) -> list[str]:
    return [cf for _, _, cf in sw.counterfactuals(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She gave her friend her book and thanked her .", "He gave his friend his book and thanked him ."),
        ("it 's his best film , and the credit is his .", "it 's her best film , and the credit is hers ."),
        ("HE said so, and Her remark stood", "SHE said so, and His remark stood"),
        ("he saw himself in her", "she saw herself in him"),
    ],
)
def test_pronouns_follow_grammar_and_case(swappers: dict, text: str, expected: str) -> None:
    assert swap_all(swappers["gender"], text) == [expected]


def test_case_multiword_and_both_directions() -> None:
    from fairtune.data import Swapper

    sw = Swapper(LEX)
    assert swap_all(sw, "The Kings met the QUEENS.") == ["The Queens met the KINGS."]
    assert swap_all(sw, "he was the best  man") == ["he was the maid of honor"]  # pronouns are off here
    assert swap_all(sw, "an actor's grandpa") == ["an actress's grandma"]
    assert swap_all(sw, "the kingship of actors") == []  # word boundaries: no partial matches


def test_articles_agree_and_other_lexicons_terms_are_left_alone(swappers: dict) -> None:
    text = "an african american director shoots an american film"
    assert swap_all(swappers["race"], text) == ["a european american director shoots an american film"]
    nat = swap_all(swappers["nationality"], text)
    assert nat[0] == "an african american director shoots a mexican film"  # 'african american' untouched
    assert swap_all(swappers["religion"], "A Christian family") == [
        "A Muslim family",
        "A Jewish family",
        "A Hindu family",
        "A Buddhist family",
        "An Atheist family",
    ]


def test_text_without_terms_has_no_counterfactual(swappers: dict) -> None:
    for sw in swappers.values():
        assert sw.counterfactuals("a quiet , well-made film about nothing much") == []


def test_cda_adds_one_copy_per_text_and_dimension_with_the_same_label() -> None:
    lexicons = load_lexicons(["gender", "religion"])
    texts = ["the actress and the muslims", "no identity here", "kings"]
    data = LabelledData(texts, np.array([1, 0, 1]), None, "t")
    cfs = make_counterfactuals(texts, lexicons, pronouns=False, seed=0)
    assert cfs.index == [0, 0, 2] and cfs.dimension == ["gender", "religion", "gender"]
    assert cfs.texts[0] == "the actor and the muslims" and cfs.texts[2] == "queens"
    assert cfs.first_per_text() == {0: "the actor and the muslims", 2: "queens"}
    out = augment(data, cfs)
    assert len(out) == 6 and out.labels.tolist() == [1, 0, 1, 1, 1, 1]
    # seeded: the same copies every time
    assert make_counterfactuals(texts, lexicons, pronouns=False, seed=0).texts == cfs.texts
