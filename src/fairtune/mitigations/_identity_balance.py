"""Identity-balanced augmentation (after Dixon et al. 2018, who added non-toxic texts with identity
terms until no term predicted the label): every @mitigate phrase of the lexicons goes into as many
positive as negative mitigation-side templates, the same templates for every group of a row."""

from __future__ import annotations

from typing import Any

import numpy as np

from fairtune.mitigations._preflight import PACKAGED_TEMPLATES
from fairtune.mitigations._registry import register_data_transform


def balanced_sentences(
    lexicons: list[Any], templates: list[Any], per_phrase: int, seed: int
) -> list[tuple[str, str, str]]:
    """(sentence, 'positive' | 'negative', dimension): for each @mitigate row, `per_phrase` templates of
    each label drawn once (seeded) and filled with every group's phrase of the row."""
    by_label = {lab: [t for t in templates if t.label == lab] for lab in ("positive", "negative")}
    rng = np.random.default_rng(seed)
    out: list[tuple[str, str, str]] = []
    for lex in lexicons:
        for row in lex.mitigation:
            for label, pool in by_label.items():
                picks = rng.choice(len(pool), size=min(per_phrase, len(pool)), replace=False)
                out += [(pool[int(k)].fill(phrase), label, lex.dimension) for k in picks for phrase in row]
    return out


@register_data_transform("identity_balance", order=20)
def identity_balance(cfg: Any, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Append the balanced sentences to data.train with the task's positive and negative labels."""
    ib = cfg.train.identity_balance
    if ib is None:
        return {}, {}
    from fairtune.data import LabelledData, load_lexicons
    from fairtune.data._templates import read_templates, template_label_ids

    field = "train.identity_balance"
    ids = template_label_ids(data.label_names, ib.positive_label, f"{field}.positive_label")
    lexicons = load_lexicons(ib.dimensions, ib.lexicon_dir, field)
    templates = read_templates(ib.templates, PACKAGED_TEMPLATES, f"{field}.templates")
    rows = balanced_sentences(lexicons, templates, ib.per_phrase, cfg.seed)
    old = data.train
    labels = np.array([ids[label] for _, label, _ in rows], dtype=old.labels.dtype)
    data.train = LabelledData(
        old.texts + [text for text, _, _ in rows],
        np.concatenate([old.labels, labels]),
        (old.groups + [""] * len(rows)) if old.groups is not None else None,
        f"{old.source} + {len(rows)} identity-balanced sentences",
    )
    per_dim: dict[str, int] = {}
    for _, _, dim in rows:
        per_dim[dim] = per_dim.get(dim, 0) + 1
    return {
        "per_phrase": ib.per_phrase,
        "dimensions": ib.dimensions,
        "sentences_added": len(rows),
        "sentences_per_dimension": per_dim,
        "positive_share": float(np.mean([label == "positive" for _, label, _ in rows])) if rows else None,
        "templates": templates[0].path,
    }, {}
