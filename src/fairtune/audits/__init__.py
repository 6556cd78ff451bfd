"""Auditors: plain functions over a `Classifier` that return an `AuditResult`."""

from fairtune.audits._result import AuditResult

__all__ = ["AuditResult"]
