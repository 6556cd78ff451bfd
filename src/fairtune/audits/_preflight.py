"""What the enabled auditors, mitigations and augmentation will need, checked before any training."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig


def audit_input_problems(cfg: FairtuneConfig) -> list[str]:
    """What the enabled auditors (each registration's `preflight`), the mitigations, augmentation and
    redaction will need, checked before any training. Returns every problem (empty when all is in place)."""
    from fairtune.audits._registry import auditors, enabled_auditors
    from fairtune.data import prepare_wordnet
    from fairtune.errors import collector

    problems: list[str] = []
    attempt = collector(problems)

    for name in enabled_auditors(cfg):
        problems.extend(auditors()[name].problems(cfg))
    from fairtune.mitigations._preflight import mitigation_input_problems

    problems.extend(mitigation_input_problems(cfg))
    ag = cfg.train.augment
    if ag is not None and ag.method == "eda":
        attempt(prepare_wordnet, ag.wordnet, "train.augment.wordnet")
    if ag is not None and ag.method == "backtranslate":
        from fairtune.data._augment import check_augment_models

        problems.extend(check_augment_models(ag))
    if cfg.data.redact:
        from fairtune.data._pii import SPACY_INSTALL, settings_from_config, spacy_pipeline_available

        model = settings_from_config(cfg.data).spacy_model
        if not spacy_pipeline_available(model):
            problems.append(
                f"data.pii.spacy_model: the spaCy pipeline {model!r} that data.redact needs is missing. "
                f"Install it with `{SPACY_INSTALL}`."
            )
    return problems
