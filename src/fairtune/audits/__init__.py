"""Auditors: plain functions over a `Classifier` that return an `AuditResult`, and their registry.

Names load on first use (PEP 562): config validation reads the registry's metric declarations without
importing numpy or pandas.
"""

from typing import TYPE_CHECKING

from fairtune._lazy import lazy_exports
from fairtune.audits._registry import (
    auditors,
    classifier_auditors,
    enabled_auditors,
    register_auditor,
    register_metrics,
)
from fairtune.audits._spec import AuditContext, AuditorSpec, Metric

if TYPE_CHECKING:
    from fairtune.audits._preflight import audit_input_problems
    from fairtune.audits._provenance import describe_stale, provenance, stale_audits, stale_reason
    from fairtune.audits._result import AuditResult

__getattr__ = lazy_exports(
    __name__,
    {
        "audit_input_problems": "_preflight",
        "AuditResult": "_result",
        "describe_stale": "_provenance",
        "provenance": "_provenance",
        "stale_audits": "_provenance",
        "stale_reason": "_provenance",
    },
)

__all__ = [
    "AuditContext",
    "AuditResult",
    "AuditorSpec",
    "Metric",
    "audit_input_problems",
    "auditors",
    "classifier_auditors",
    "describe_stale",
    "enabled_auditors",
    "provenance",
    "register_auditor",
    "register_metrics",
    "stale_audits",
    "stale_reason",
]
