"""The privacy audit: what a trained model leaks about its training data, measured empirically.

Names load on first use (PEP 562), so the registry can import this auditor's `_plugin` cheaply."""

from typing import TYPE_CHECKING

from fairtune._lazy import lazy_exports

if TYPE_CHECKING:
    from fairtune.audits.privacy._audit import audit_privacy, loss_threshold_attack, tpr_at_fpr

__getattr__ = lazy_exports(
    __name__,
    {
        "audit_privacy": "_audit",
        "loss_threshold_attack": "_audit",
        "tpr_at_fpr": "_audit",
    },
)

__all__ = [
    "audit_privacy",
    "loss_threshold_attack",
    "tpr_at_fpr",
]
