"""Counterfactual data augmentation (CDA; Lu et al. 2020) and the partners of counterfactual logit
pairing (CLP; Garg et al. 2019), from train.counterfactual: swapped copies of the training texts that
mention an identity term (see `fairtune.data._counterfactual`)."""

from __future__ import annotations

from typing import Any

from fairtune.mitigations._registry import register_data_transform


@register_data_transform("counterfactual", order=10)
def counterfactual_training(cfg: Any, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """CDA extends data.train in place; CLP hands its partners to the pairing objective."""
    cfc = cfg.train.counterfactual
    if cfc is None:
        return {}, {}
    from fairtune.data import augment, load_lexicons, make_counterfactuals

    lexicons = load_lexicons(cfc.dimensions, cfc.lexicon_dir, "train.counterfactual")
    cfs = make_counterfactuals(data.train.texts, lexicons, pronouns=cfc.pronouns, seed=cfg.seed)
    n_orig = len(data.train)
    if cfc.method in ("cda", "both"):
        data.train = augment(data.train, cfs)
    pairs = cfs.first_per_text() if cfc.method in ("clp", "both") else None
    info = {
        "method": cfc.method,
        "clp_lambda": cfc.clp_lambda if pairs else None,
        "dimensions": cfc.dimensions,
        "pronouns": cfc.pronouns,
        "train_texts": n_orig,
        "texts_with_terms": len(set(cfs.index)),
        "copies_per_dimension": cfs.per_dimension(),
        "copies_added": len(cfs.texts) if cfc.method in ("cda", "both") else 0,
        "pairs": len(pairs) if pairs else 0,
        "template_pairs_per_step": cfc.template_pairs if cfc.method in ("clp", "both") else 0,
    }
    return info, ({"pair_texts": pairs} if pairs else {})
