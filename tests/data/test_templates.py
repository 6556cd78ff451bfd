"""Identity templates: their format, and the wall between the audit's side and the mitigations' side."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtune.config import FAIRNESS_DIMENSIONS
from fairtune.data import load_lexicons, parse_lexicon
from fairtune.data._templates import (
    fill,
    parse_templates,
    read_templates,
    template_label_ids,
    terms_in_templates,
)
from fairtune.errors import TEMPLATES_MISSING, ConfigError, DataError

EVAL_TEMPLATES = ("fairtune.audits.fairness", "identity_templates.tsv")
MITIGATION_TEMPLATES = ("fairtune.mitigations", "templates.tsv")


def _audit_side() -> set[str]:
    from fairtune.audits.fairness._audit import read_templates as probe_templates

    labelled = read_templates(None, EVAL_TEMPLATES, "x", ("positive", "negative"))
    return {t.text for t in labelled} | set(probe_templates())


def test_no_evaluation_template_is_used_by_any_mitigation() -> None:
    from fairtune.mitigations._identity_balance import balanced_sentences
    from fairtune.training.objectives._pairing import template_pairs

    audit_side = _audit_side()
    mitigation = read_templates(None, MITIGATION_TEMPLATES, "y")
    assert not audit_side & {t.text for t in mitigation}
    # and nothing the mitigations generate is a sentence the audit measures
    lexicons = load_lexicons(FAIRNESS_DIMENSIONS)
    made = {s for s, _, _ in balanced_sentences(lexicons, mitigation, 30, seed=0)}
    made |= {s for pair in template_pairs(lexicons, mitigation) for s in pair}
    measured = {fill(t, p) for t in audit_side for lex in lexicons for row in lex.probes for p in row}
    assert made and measured and not made & measured


def test_probe_and_mitigation_phrases_are_apart_and_templates_hold_no_term() -> None:
    lexicons = load_lexicons(FAIRNESS_DIMENSIONS)
    for lex in lexicons:
        probes = {p for row in lex.probes for p in row}
        mitigation = {p for row in lex.mitigation for p in row}
        if lex.dimension in ("surnames", "religion_names"):  # names: swapped in real text, no phrases
            assert not probes and not mitigation
            continue
        assert probes and mitigation and not probes & mitigation, lex.dimension
    for side in (EVAL_TEMPLATES, MITIGATION_TEMPLATES):
        assert terms_in_templates(read_templates(None, side, "f"), lexicons, "f") == []


def test_a_lexicon_with_a_phrase_on_both_sides_is_refused() -> None:
    text = "# source: test\n@groups\ta\tb\nx\ty\n@probe\tan x\ta y\n@mitigate\tan x\tsome y\n"
    with pytest.raises(DataError, match=r"\['an x'\] are both @probe and @mitigate"):
        parse_lexicon(text, "lex.tsv", "d")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("positive The {x} was fine.", "no TAB between label and template"),
        ("happy\t{x} was fine.", "label 'happy' is not one of positive, negative, neutral"),
        ("positive\tThe film was fine.", "has 0 {x} slots, not one"),
        ("positive\t{x} met {x}.", "has 2 {x} slots, not one"),
    ],
)
def test_bad_template_lines_are_named_with_field_file_and_line(line: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_templates(f"# comment\n{line}\n", "t.tsv", "train.counterfactual.templates")
    msg = info.value.render()
    assert msg.startswith("train.counterfactual.templates: t.tsv: line 2: ") and problem in msg


def test_every_bad_line_is_reported_at_once_and_an_empty_file_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_templates("positive\tno slot\nnegative\talso none\n", "t.tsv", "f")
    assert len(info.value.problems) == 2
    with pytest.raises(ConfigError, match="holds no template lines"):
        parse_templates("# only a comment\n", "t.tsv", "f")


def test_missing_template_file_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read_templates(str(tmp_path / "nope.tsv"), MITIGATION_TEMPLATES, "train.identity_balance.templates")
    assert info.value.render() == TEMPLATES_MISSING.format(
        field="train.identity_balance.templates", path=tmp_path / "nope.tsv"
    )


def test_fill_capitalises_a_sentence_that_opens_with_the_slot() -> None:
    assert fill("{x} was kind.", "a gay teacher") == "A gay teacher was kind."
    assert fill("We met {x}.", "james") == "We met james."


def test_template_labels_map_to_a_binary_task_only() -> None:
    assert template_label_ids(["neg", "pos"], None, "f") == {"positive": 1, "negative": 0}
    assert template_label_ids(["good", "bad"], "good", "f") == {"positive": 0, "negative": 1}
    with pytest.raises(ConfigError, match="fits a task with two labels"):
        template_label_ids(["a", "b", "c"], None, "train.identity_balance.positive_label")
