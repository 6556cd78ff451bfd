"""Fairness: counterfactual identity swaps, template probes, EEC and group metrics."""

from fairtune.audits.fairness._audit import audit_fairness, eec_terms, lexicon_overlap, read_eec

__all__ = ["audit_fairness", "eec_terms", "lexicon_overlap", "read_eec"]
