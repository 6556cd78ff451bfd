"""The privacy auditor's registration: its metrics and how it runs over an `AuditContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fairtune.audits._registry import register_auditor
from fairtune.audits._spec import AuditContext, Metric
from fairtune.errors import PRIVACY_NEEDS_TRAIN, DataError

if TYPE_CHECKING:
    from fairtune.audits._result import AuditResult

COMPARED_EXPOSURE = (1, 4, 16)
METRICS = (
    Metric("mia_auc", True, compared=True, title="Membership inference (loss threshold): AUC", key=True),
    Metric(
        "mia_tpr_at_1pct_fpr",
        True,
        compared=True,
        title="Membership inference (loss threshold): TPR at 1% FPR",
        key=True,
    ),
    Metric("mia_tpr_at_01pct_fpr", True, title="Membership inference (loss threshold): TPR at 0.1% FPR"),
    Metric("mia_advantage", True, title="Membership inference (loss threshold): advantage (max TPR - FPR)"),
    Metric(
        "mia_calibrated_auc", True, compared=True, title="Membership inference (calibrated): AUC", key=True
    ),
    Metric(
        "mia_calibrated_tpr_at_1pct_fpr",
        True,
        compared=True,
        title="Membership inference (calibrated): TPR at 1% FPR",
    ),
    Metric(
        "mia_calibrated_tpr_at_01pct_fpr", True, title="Membership inference (calibrated): TPR at 0.1% FPR"
    ),
    Metric("dp_epsilon", True, title="DP-SGD: epsilon spent", key=True),
    *(
        Metric(
            f"canary_exposure_r{r}",
            True,
            compared=r in COMPARED_EXPOSURE,
            title=f"Canaries inserted {r}x: exposure",
            key=r == 16,
        )
        for r in (1, 2, 4, 8, 16, 32, 64)
    ),
)


def run_extras(ctx: AuditContext) -> dict[str, Any]:
    """What only a fairtune run holds: its canaries, its DP accounting and the reference model."""
    from fairtune._io import read_json
    from fairtune.data import Canaries

    run = ctx.run
    if run is None:
        return {}
    canary_file = run.root / "canaries.json"
    extras: dict[str, Any] = {
        "canaries": Canaries.from_dict(read_json(canary_file)) if canary_file.is_file() else None,
        "dp": run.read_metrics().get("train", {}).get("privacy") if run.metrics.is_file() else None,
    }
    if ctx.config.audit.privacy.reference_data:
        from fairtune.audits.privacy._reference import privacy_reference

        extras["reference"], extras["reference_texts"] = privacy_reference(run, ctx.config)
    return extras


@register_auditor("privacy", order=40, metrics=METRICS, inputs=("data/_canary.py",))
def run_privacy(ctx: AuditContext) -> AuditResult:
    """Membership inference on training against held-out texts; canary exposure; the DP guarantee."""
    from fairtune.audits.privacy import audit_privacy

    if ctx.train is None or not len(ctx.train):
        raise DataError(PRIVACY_NEEDS_TRAIN)
    return audit_privacy(ctx.classifier, ctx.train, ctx.eval, ctx.config.audit.privacy, **run_extras(ctx))
