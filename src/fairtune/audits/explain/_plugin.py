"""The explanation auditor's registration: its metrics and how it runs over an `AuditContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairtune.audits._registry import register_auditor
from fairtune.audits._spec import AuditContext, Metric
from fairtune.config._schema import EXPLAIN_METHODS

if TYPE_CHECKING:
    from fairtune.audits._result import AuditResult
    from fairtune.config import ExplainAuditConfig, FairtuneConfig

#: per method, as `<method>_<name>`: (name, lower is better, timing)
PER_METHOD = (
    ("comprehensiveness", False, False),
    ("sufficiency", True, False),
    ("comprehensiveness_ratio", False, False),
    ("sufficiency_ratio", True, False),
    ("stability", False, False),
    ("seconds_per_explanation", None, True),
)
#: what the model card shows of each method
KEY = ("comprehensiveness", "sufficiency")
METRICS = (
    *(
        Metric(f"{m}_{k}", lower, timing=timing, key=m in ("ig", "occlusion") and k in KEY)
        for m in EXPLAIN_METHODS
        for k, lower, timing in PER_METHOD
    ),
    Metric("random_comprehensiveness", None, key=True),
    Metric("random_sufficiency", None, key=True),
    Metric("ig_convergence_delta", True),
)
WHITE_BOX = {"ig": "integrated gradients need gradients through the model's input embeddings"}


def black_box_settings(ctx: AuditContext) -> tuple[ExplainAuditConfig, list[str]]:
    """The explain settings without the white-box methods the model cannot serve; why each was dropped."""
    from fairtune.audits.explain import is_differentiable

    ec = ctx.config.audit.explain
    if is_differentiable(ctx.classifier):
        return ec, []
    dropped = [m for m in {*ec.methods, ec.global_method} if m in WHITE_BOX]
    methods = [m for m in ec.methods if m not in WHITE_BOX] or ["occlusion"]
    glob = ec.global_method if ec.global_method not in WHITE_BOX else "occlusion"
    kind = type(ctx.classifier).__name__
    reasons = [f"{m} skipped: {WHITE_BOX[m]}, and a {kind} offers none (predictions only)" for m in dropped]
    return ec.model_copy(update={"methods": methods, "global_method": glob}), reasons


def preflight(cfg: FairtuneConfig) -> list[str]:
    """SHAP, an optional package, when a method asks for it."""
    import importlib.util

    from fairtune.errors import EXPLAIN_SHAP_MISSING

    ea = cfg.audit.explain
    if "shap" in {*ea.methods, ea.global_method} and importlib.util.find_spec("shap") is None:
        return ["audit.explain.methods: " + EXPLAIN_SHAP_MISSING]
    return []


@register_auditor("explain", order=30, metrics=METRICS, reaudit_variants=False, preflight=preflight)
def run_explain(ctx: AuditContext) -> AuditResult:
    """Token attributions and their faithfulness; white-box methods only where the model has gradients."""
    from fairtune.audits.explain import audit_explain

    settings, skipped = black_box_settings(ctx)
    res = audit_explain(ctx.classifier, ctx.eval, settings, prior=ctx.prior, log=ctx.log)
    for reason in skipped:
        res.finding("info", reason, check="white_box")
    if skipped:
        res.details["skipped_methods"] = skipped
    return res
