"""Robustness: invariance tests and a constrained word-substitution attack, through the Classifier."""

from fairtune.audits.robustness._attack import AttackSettings, SentenceEncoder, WordSubstitutionAttack
from fairtune.audits.robustness._audit import attack_settings, audit_robustness, invariance, sample_indices
from fairtune.audits.robustness._perturb import Perturbations

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
