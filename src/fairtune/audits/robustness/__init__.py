"""Robustness: invariance tests and a constrained word-substitution attack, through the Classifier.

Names load on first use (PEP 562), so the registry can import this auditor's `_plugin` cheaply."""

from typing import TYPE_CHECKING

from fairtune._lazy import lazy_exports

if TYPE_CHECKING:
    from fairtune.audits.robustness._attack import AttackSettings, SentenceEncoder, WordSubstitutionAttack
    from fairtune.audits.robustness._audit import (
        attack_settings,
        audit_robustness,
        invariance,
        sample_indices,
    )
    from fairtune.audits.robustness._perturb import Perturbations

__getattr__ = lazy_exports(
    __name__,
    {
        "AttackSettings": "_attack",
        "SentenceEncoder": "_attack",
        "WordSubstitutionAttack": "_attack",
        "attack_settings": "_audit",
        "audit_robustness": "_audit",
        "invariance": "_audit",
        "sample_indices": "_audit",
        "Perturbations": "_perturb",
    },
)

__all__ = [
    "AttackSettings",
    "Perturbations",
    "SentenceEncoder",
    "WordSubstitutionAttack",
    "attack_settings",
    "audit_robustness",
    "invariance",
    "sample_indices",
]
