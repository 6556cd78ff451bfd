"""Lexicons: the packaged files parse, cite sources, cover 7 identity dimensions and 2 of personal names,
and never use an EEC term."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtune.data import DIMENSIONS, load_lexicons, parse_lexicon
from fairtune.errors import ConfigError, DataError
from tests.conftest import SHARED_DATA

EEC = SHARED_DATA / "eec" / "Equity-Evaluation-Corpus.csv"


NAME_DIMENSIONS = ("surnames", "religion_names")


def test_packaged_lexicons_cover_seven_dimensions_with_sources() -> None:
    lexicons = load_lexicons(list(DIMENSIONS))
    assert [lx.dimension for lx in lexicons] == list(DIMENSIONS)
    assert len(lexicons) >= 9
    for lx in lexicons:
        assert lx.sources, lx.dimension
        assert len(lx.groups) >= 2 and len(lx.index) >= 20, lx.dimension
        if lx.dimension in NAME_DIMENSIONS:  # names are swapped in real text only; no template noun phrases
            assert not lx.probes and not lx.mitigation, lx.dimension
        else:
            assert lx.probes, f"{lx.dimension} has no @probe rows for the template probes"


def test_name_lexicons_keep_clear_of_the_identity_lexicons() -> None:
    """A name is in one lexicon only, so a sentence's name swap counts in one dimension."""
    lexicons = load_lexicons(list(DIMENSIONS))
    names = {t for lx in lexicons if lx.dimension in NAME_DIMENSIONS for t in lx.index}
    others = {t for lx in lexicons if lx.dimension not in NAME_DIMENSIONS for t in lx.index}
    assert names and not names & others
    groups = {lx.dimension: lx.groups for lx in lexicons}
    assert groups["surnames"] == ["white", "black", "hispanic", "asian", "native_american"]
    assert {"sikh", "jain", "parsi", "muslim", "hindu"} <= set(groups["religion_names"])


def test_no_lexicon_word_is_an_eec_term() -> None:
    """The EEC is the held-out test of the mitigations, so no lexicon (the mitigation's word lists) may
    contain one of its Person words; pronouns are swapped by rules and are off in the mitigation."""
    from fairtune.audits.fairness import eec_terms, lexicon_overlap, read_eec

    if not EEC.is_file():
        pytest.skip(f"EEC not found at {EEC}")
    frame = read_eec(str(EEC), "audit.fairness.eec")
    terms = eec_terms(frame)
    assert {"he", "she", "lakisha", "man", "mother"} <= terms
    assert lexicon_overlap(terms, load_lexicons(list(DIMENSIONS)), pronouns=False) == []
    # ...and the check itself does catch an overlap:
    assert lexicon_overlap(terms, load_lexicons(list(DIMENSIONS)), pronouns=True) == [
        "he",
        "her",
        "him",
        "she",
    ]


GOOD = "# source: a paper\n@groups\tmale\tfemale\nkings\tqueens\n@probe\ta king\ta queen\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            "# source: x\n@groups\tmale\tfemale\nkings\tqueens\tprinces\n",
            3,
            "3 tab-separated field(s) for 2 groups",
        ),
        ("# source: x\nkings\tqueens\n", 2, "expected the @groups line"),
        ("@groups\tmale\tfemale\nkings\tqueens\n", 1, "no '# source:' line"),
        ("# source: x\n@groups\tmale\tfemale\nkings\tqueens\nqueens\tladies\n", 4, "already appears"),
        ("# source: x\n@groups\tMale\tfemale\nkings\tqueens\n", 2, "@groups needs"),
        ("# source: x\n@groups\tmale\tfemale\nkings\t-\n", 3, "at least two groups"),
        ("# source: x\n@groups\tmale\tfemale\n@probe\tone\n", 3, "@probe needs 2"),
        ("# source: x\n@groups\tmale\tfemale\n@swap\tkings\tqueens\n", 3, "unknown directive"),
    ],
)
def test_malformed_lexicon_names_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DataError) as exc:
        parse_lexicon(text, "my/gender.tsv", "gender")
    msg = str(exc.value)
    assert f"my/gender.tsv: line {line}:" in msg and fragment in msg


def test_user_lexicon_dir_replaces_packaged_and_unknown_dimension_is_clear(tmp_path: Path) -> None:
    (tmp_path / "gender.tsv").write_text(GOOD, encoding="utf-8")
    (lx,) = load_lexicons(["gender"], str(tmp_path))
    assert lx.terms() == ["kings", "queens"] and lx.probes == [["a king", "a queen"]]
    with pytest.raises(ConfigError, match=r"audit.fairness.dimensions: no lexicon for dimension 'caste'"):
        load_lexicons(["caste"], str(tmp_path), "audit.fairness")
    with pytest.raises(ConfigError, match="folder not found"):
        load_lexicons(["gender"], str(tmp_path / "nope"), "audit.fairness")
