"""Token attributions (integrated gradients, occlusion, SHAP) and how far they can be trusted.

Names load on first use (PEP 562), so the registry can import this auditor's `_plugin` cheaply."""

from typing import TYPE_CHECKING

from fairtune._lazy import lazy_exports

if TYPE_CHECKING:
    from fairtune.audits.explain._audit import audit_explain, faithfulness, global_tokens
    from fairtune.audits.explain._methods import (
        BLACK_BOX,
        METHODS,
        ExplainSettings,
        Explanation,
        check_method,
        explain,
        is_differentiable,
    )
    from fairtune.audits.explain._words import Words, merge_pieces

__getattr__ = lazy_exports(
    __name__,
    {
        "audit_explain": "_audit",
        "faithfulness": "_audit",
        "global_tokens": "_audit",
        "BLACK_BOX": "_methods",
        "METHODS": "_methods",
        "ExplainSettings": "_methods",
        "Explanation": "_methods",
        "check_method": "_methods",
        "explain": "_methods",
        "is_differentiable": "_methods",
        "Words": "_words",
        "merge_pieces": "_words",
    },
)

__all__ = [
    "BLACK_BOX",
    "METHODS",
    "ExplainSettings",
    "Explanation",
    "Words",
    "audit_explain",
    "check_method",
    "explain",
    "faithfulness",
    "global_tokens",
    "is_differentiable",
    "merge_pieces",
]
