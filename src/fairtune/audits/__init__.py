"""Auditors: plain functions over a `Classifier` that return an `AuditResult`, and their registry."""

from fairtune.audits._preflight import audit_input_problems
from fairtune.audits._registry import AUDITORS, enabled_auditors, register_auditor
from fairtune.audits._result import AuditResult

__all__ = ["AUDITORS", "AuditResult", "audit_input_problems", "enabled_auditors", "register_auditor"]
