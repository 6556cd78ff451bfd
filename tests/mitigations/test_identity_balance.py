"""Identity-balanced augmentation: every @mitigate phrase in as many positive as negative templates."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from fairtune.config import build_config
from fairtune.data import LabelledData, TaskData, load_lexicons
from fairtune.data._templates import read_templates
from fairtune.mitigations import TRANSFORMS, apply_data_transforms
from fairtune.mitigations._identity_balance import balanced_sentences

MITIGATION_TEMPLATES = ("fairtune.mitigations", "templates.tsv")


def test_each_phrase_gets_as_many_positive_as_negative_sentences_from_the_same_templates() -> None:
    lexicons = load_lexicons(["religion", "disability"])
    templates = read_templates(None, MITIGATION_TEMPLATES, "t")
    rows = balanced_sentences(lexicons, templates, 4, seed=0)
    phrases = [(lex.dimension, p) for lex in lexicons for row in lex.mitigation for p in row]
    assert len(rows) == len(phrases) * 8
    by_label = Counter(label for _, label, _ in rows)
    assert by_label["positive"] == by_label["negative"] and "neutral" not in by_label
    # within a row every group's phrase goes into the same templates: the groups differ only by phrase
    row = lexicons[0].mitigation[0]
    shapes = [
        {text.replace(p, "{x}").replace(p.capitalize(), "{x}") for text, _, _ in rows if p in text.lower()}
        for p in row
    ]
    assert all(s == shapes[0] for s in shapes) and len(shapes[0]) == 8
    assert rows == balanced_sentences(lexicons, templates, 4, seed=0)  # seeded
    assert rows != balanced_sentences(lexicons, templates, 4, seed=1)


def _task() -> TaskData:
    train = LabelledData(["good film", "bad film"], np.array([1, 0]), None, "unit")
    return TaskData(train, train, ["negative", "positive"])


def test_the_transform_appends_labelled_sentences_and_records_them() -> None:
    cfg = build_config({"train": {"identity_balance": {"per_phrase": 2, "dimensions": ["age"]}}})
    data = _task()
    infos, extras = apply_data_transforms(cfg, data)
    info = infos["identity_balance"]
    n_phrases = sum(len(row) for row in load_lexicons(["age"])[0].mitigation)
    assert info["sentences_added"] == n_phrases * 4 == len(data.train) - 2 and extras == {}
    assert info["positive_share"] == 0.5 and info["sentences_per_dimension"] == {"age": n_phrases * 4}
    added = data.train.labels[2:]
    assert added.dtype == data.train.labels.dtype and added.mean() == 0.5
    assert "counterfactual" not in infos  # off in this config
    assert list(TRANSFORMS) == ["counterfactual", "identity_balance"]


def test_positive_label_chooses_which_label_positive_templates_get() -> None:
    cfg = build_config(
        {
            "train": {
                "identity_balance": {"per_phrase": 1, "dimensions": ["age"], "positive_label": "negative"}
            }
        }
    )
    data = _task()
    apply_data_transforms(cfg, data)
    texts, labels = data.train.texts[2:], data.train.labels[2:]
    positive = {t.text for t in read_templates(None, MITIGATION_TEMPLATES, "t") if t.label == "positive"}
    for text, label in zip(texts, labels, strict=True):
        is_pos = any(text.lower() == t.replace("{x}", p).lower() for t in positive for p in _phrases("age"))
        assert label == (0 if is_pos else 1)


def _phrases(dim: str) -> list[str]:
    return [p for row in load_lexicons([dim])[0].mitigation for p in row]


def test_out_of_range_settings_are_refused_naming_the_field() -> None:
    from fairtune.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train\.identity_balance\.per_phrase"):
        build_config({"train": {"identity_balance": {"per_phrase": 0}}})
