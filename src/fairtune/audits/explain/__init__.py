"""Token attributions (integrated gradients, occlusion, SHAP) and how far they can be trusted."""

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
