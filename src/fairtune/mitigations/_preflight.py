"""What the training-time mitigations of a config need, checked before any work: lexicons, templates,
WordNet. Each problem names its field."""

from __future__ import annotations

from typing import Any

PACKAGED_TEMPLATES = ("fairtune.mitigations", "templates.tsv")


def mitigation_input_problems(cfg: Any) -> list[str]:
    """Every problem with train.counterfactual, train.identity_balance, train.tie_terms and train.attack
    (empty: fine)."""
    from fairtune.data import load_lexicons, prepare_wordnet
    from fairtune.data._templates import read_templates
    from fairtune.errors import collector

    problems: list[str] = []
    attempt = collector(problems)

    t = cfg.train
    for field, section in (
        ("train.counterfactual", t.counterfactual),
        ("train.identity_balance", t.identity_balance),
    ):
        if section is not None:
            attempt(load_lexicons, section.dimensions, section.lexicon_dir, field)
            attempt(read_templates, section.templates, PACKAGED_TEMPLATES, f"{field}.templates")
    if t.tie_terms is not None:
        attempt(load_lexicons, t.tie_terms.dimensions, t.tie_terms.lexicon_dir, "train.tie_terms")
    if t.attack is not None:
        attempt(prepare_wordnet, t.attack.wordnet, "train.attack.wordnet")
    return problems
