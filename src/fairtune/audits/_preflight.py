"""What the enabled auditors, mitigations and augmentation will need, checked before any training."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig


def audit_input_problems(cfg: FairtuneConfig) -> list[str]:
    """What the enabled auditors and mitigations will need, checked before any training: lexicons,
    templates, the EEC file, WordNet. Returns every problem (empty when all is in place)."""
    from fairtune.audits.fairness import read_eec
    from fairtune.data import load_lexicons, prepare_wordnet
    from fairtune.errors import collector

    problems: list[str] = []
    attempt = collector(problems)

    fa, ra = cfg.audit.fairness, cfg.audit.robustness
    if fa.enabled:
        from fairtune.audits.fairness._identity import load_identity_templates

        lexicons: list[Any] = []
        attempt(lambda: lexicons.extend(load_lexicons(fa.dimensions, fa.lexicon_dir, "audit.fairness")))
        if lexicons and fa.identity_terms:
            attempt(load_identity_templates, fa.identity_templates, lexicons)
        if fa.eec:
            attempt(read_eec, fa.eec, "audit.fairness.eec")
    from fairtune.mitigations._preflight import mitigation_input_problems

    problems.extend(mitigation_input_problems(cfg))
    ag = cfg.train.augment
    if ag is not None and ag.method == "eda":
        attempt(prepare_wordnet, ag.wordnet, "train.augment.wordnet")
    if ag is not None and ag.method == "backtranslate":
        from fairtune.data._augment import check_augment_models

        problems.extend(check_augment_models(ag))
    if ra.enabled:
        attempt(prepare_wordnet, ra.wordnet, "audit.robustness.wordnet")
    import importlib.util

    ea = cfg.audit.explain
    if ea.enabled and "shap" in {*ea.methods, ea.global_method}:
        from fairtune.errors import EXPLAIN_SHAP_MISSING

        if importlib.util.find_spec("shap") is None:
            problems.append("audit.explain.methods: " + EXPLAIN_SHAP_MISSING)
    if cfg.data.redact:
        from fairtune.data._pii import SPACY_INSTALL, settings_from_config, spacy_pipeline_available

        model = settings_from_config(cfg.data).spacy_model
        if not spacy_pipeline_available(model):
            problems.append(
                f"data.pii.spacy_model: the spaCy pipeline {model!r} that data.redact needs is missing. "
                f"Install it with `{SPACY_INSTALL}`."
            )
    return problems
