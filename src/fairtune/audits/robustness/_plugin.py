"""The robustness auditor's registration: its metrics and how it runs over an `AuditContext`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairtune.audits._registry import register_auditor
from fairtune.audits._spec import AuditContext, Metric

if TYPE_CHECKING:
    from fairtune.audits._result import AuditResult
    from fairtune.config import FairtuneConfig

METRICS = (
    Metric(
        "invariance_failure_rate",
        True,
        compared=True,
        title="Invariance tests: failure rate (mean over perturbations)",
        key=True,
    ),
    Metric(
        "invariance_failure_rate_max",
        True,
        compared=True,
        title="Invariance tests: failure rate (worst perturbation)",
    ),
    Metric(
        "attack_success_rate", True, compared=True, title="Word-substitution attack: success rate", key=True
    ),
    Metric(
        "accuracy_under_attack",
        False,
        compared=True,
        title="Word-substitution attack: accuracy under attack",
        key=True,
    ),
    Metric(
        "clean_accuracy", False, compared=True, title="Word-substitution attack: clean accuracy of the sample"
    ),
    Metric(
        "queries_per_example", False, compared=True, title="Word-substitution attack: queries per example"
    ),
    Metric("attack_seconds", None, timing=True),
)


def preflight(cfg: FairtuneConfig) -> list[str]:
    """WordNet, for the synonym perturbations and the attack's substitutes; the perturbations named."""
    from fairtune.audits.robustness._perturb import perturbation_names
    from fairtune.data import prepare_wordnet
    from fairtune.errors import collector

    problems: list[str] = []
    collector(problems)(prepare_wordnet, cfg.audit.robustness.wordnet, "audit.robustness.wordnet")
    known = perturbation_names()
    for name in cfg.audit.robustness.perturbations or []:
        if name not in known:
            problems.append(
                f"audit.robustness.perturbations: unknown perturbation {name!r}; "
                f"use any of {', '.join(known)}"
            )
    return problems


@register_auditor(
    "robustness", order=20, metrics=METRICS, preflight=preflight, inputs=("data/_swap.py", "data/_wordnet.py")
)
def run_robustness(ctx: AuditContext) -> AuditResult:
    """Invariance tests and a constrained word-substitution attack (black-box: predictions only)."""
    from fairtune.audits.robustness import SentenceEncoder, audit_robustness
    from fairtune.data import load_wordnet

    cfg = ctx.config
    rc = cfg.audit.robustness
    wordnet = load_wordnet(rc.wordnet, "audit.robustness.wordnet")
    # The similarity constraint's sentence encoder: the run's foundation model (by default the packaged
    # MiniLM, also for a model that is not a fairtune run), never the audited model itself.
    encoder = (
        SentenceEncoder.from_name(rc.similarity_model or cfg.model.name, max_length=cfg.data.max_length)
        if rc.attack and rc.min_similarity
        else None
    )
    return audit_robustness(ctx.classifier, ctx.eval, rc, wordnet=wordnet, encoder=encoder)
