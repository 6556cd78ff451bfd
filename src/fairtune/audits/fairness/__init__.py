"""Fairness: counterfactual identity swaps, template probes, EEC and group metrics.

Names load on first use (PEP 562), so the registry can import this auditor's `_plugin` cheaply."""

from typing import TYPE_CHECKING

from fairtune._lazy import lazy_exports

if TYPE_CHECKING:
    from fairtune.audits.fairness._audit import audit_fairness, eec_terms, lexicon_overlap, read_eec

__getattr__ = lazy_exports(
    __name__,
    {
        "audit_fairness": "_audit",
        "eec_terms": "_audit",
        "lexicon_overlap": "_audit",
        "read_eec": "_audit",
    },
)

__all__ = [
    "audit_fairness",
    "eec_terms",
    "lexicon_overlap",
    "read_eec",
]
