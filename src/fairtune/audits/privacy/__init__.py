"""The privacy audit: what a trained model leaks about its training data, measured empirically."""

from fairtune.audits.privacy._audit import audit_privacy, loss_threshold_attack, tpr_at_fpr

__all__ = ["audit_privacy", "loss_threshold_attack", "tpr_at_fpr"]
