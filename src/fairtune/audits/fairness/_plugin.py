"""The fairness auditor's registration: its metrics and how it runs over an `AuditContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fairtune.audits._registry import register_auditor
from fairtune.audits._spec import AuditContext, Metric
from fairtune.config._schema import FAIRNESS_DIMENSIONS

if TYPE_CHECKING:
    from fairtune.audits._result import AuditResult
    from fairtune.config import FairtuneConfig

METRICS = (
    Metric("flip_rate", True, compared=True, title="Counterfactual identity swaps: flip rate", key=True),
    Metric("mean_abs_delta", True, compared=True, title="Counterfactual identity swaps: mean |Δp|"),
    Metric("p95_abs_delta", True, title="Counterfactual identity swaps: 95th percentile |Δp|"),
    *(
        Metric(
            f"flip_rate_{d}", True, title=f"Counterfactual identity swaps: flip rate ({d.replace('_', ' ')})"
        )
        for d in FAIRNESS_DIMENSIONS
    ),
    Metric(
        "template_spread_max",
        True,
        compared=True,
        title="Template probes: largest spread of group mean scores",
        key=True,
    ),
    Metric(
        "identity_fped",
        True,
        compared=True,
        title="Identity terms: false positive equality difference",
        key=True,
    ),
    Metric(
        "identity_fned",
        True,
        compared=True,
        title="Identity terms: false negative equality difference",
        key=True,
    ),
    Metric("identity_auc_spread", True, compared=True, title="Identity terms: AUC spread"),
    Metric("identity_auc_min", False, title="Identity terms: lowest AUC"),
    Metric("identity_fpr", True, title="Identity terms: false positive rate"),
    Metric("identity_fnr", True, title="Identity terms: false negative rate"),
    Metric("eec_gender_gap", True, compared=True, title="EEC gender: mean |female - male score|", key=True),
    Metric(
        "eec_race_gap",
        True,
        compared=True,
        title="EEC race: mean |African-American - European score|",
        key=True,
    ),
    Metric("eec_gender_mean_diff", None, title="EEC gender: mean female - male score"),
    Metric("eec_race_mean_diff", None, title="EEC race: mean African-American - European score"),
    Metric("eec_gender_share_over_001", True, title="EEC gender: share of pairs differing by more than 0.01"),
    Metric("eec_race_share_over_001", True, title="EEC race: share of pairs differing by more than 0.01"),
    Metric("eec_lexicon_overlap", None, title="EEC terms found in the swap lexicons"),
    Metric("group_accuracy_min", False, compared=True, title="Groups: lowest accuracy"),
    Metric("group_accuracy_gap", True, compared=True, title="Groups: accuracy gap"),
    Metric(
        "demographic_parity_difference",
        True,
        compared=True,
        title="Groups: demographic parity difference",
        key=True,
    ),
    Metric(
        "equalized_odds_difference", True, compared=True, title="Groups: equalized odds difference", key=True
    ),
)


def preflight(cfg: FairtuneConfig) -> list[str]:
    """The lexicons, the identity templates and the EEC file."""
    from fairtune.audits.fairness import read_eec
    from fairtune.audits.fairness._identity import load_identity_templates
    from fairtune.data import load_lexicons
    from fairtune.errors import collector

    problems: list[str] = []
    attempt = collector(problems)
    fa = cfg.audit.fairness
    lexicons: list[Any] = []
    attempt(lambda: lexicons.extend(load_lexicons(fa.dimensions, fa.lexicon_dir, "audit.fairness")))
    if lexicons and fa.identity_terms:
        attempt(load_identity_templates, fa.identity_templates, lexicons)
    if fa.eec:
        attempt(read_eec, fa.eec, "audit.fairness.eec")
    return problems


@register_auditor(
    "fairness",
    order=10,
    metrics=METRICS,
    preflight=preflight,
    inputs=("data/lexicons", "data/_lexicon.py", "data/_swap.py", "data/_templates.py"),
)
def run_fairness(ctx: AuditContext) -> AuditResult:
    """Counterfactual identity swaps, identity-term error rates, template probes, the EEC, group metrics."""
    from fairtune.audits.fairness import audit_fairness
    from fairtune.data import load_lexicons

    cfg = ctx.config
    # The lexicons fairtune's own mitigation uses (or used, for a child run), for the EEC-overlap check.
    cfc = cfg.train.counterfactual
    mitigation = load_lexicons(
        cfc.dimensions if cfc else list(FAIRNESS_DIMENSIONS),
        cfc.lexicon_dir if cfc else cfg.audit.fairness.lexicon_dir,
        "train.counterfactual",
    )
    return audit_fairness(
        ctx.classifier,
        ctx.eval,
        cfg.audit.fairness,
        group_column=cfg.data.group_column,
        mitigation_lexicons=mitigation,
        mitigation_pronouns=bool(cfc and cfc.pronouns),
    )
