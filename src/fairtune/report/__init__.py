"""Report: gates, plots, the self-contained HTML report, Markdown, summary and the model card."""

from fairtune.report._gates import (
    check_gates,
    collect_metrics,
    describe_failure,
    gate_status,
    variant_gates,
    variant_metrics,
)
from fairtune.report._model_card import render_audit_card_section, render_model_card, write_model_card
from fairtune.report._render import gather, write_report

__all__ = [
    "check_gates",
    "collect_metrics",
    "describe_failure",
    "gate_status",
    "gather",
    "render_audit_card_section",
    "render_model_card",
    "variant_gates",
    "variant_metrics",
    "write_model_card",
    "write_report",
]
