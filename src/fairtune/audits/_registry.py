"""The auditors a trained run can be audited with, registered by name in the order they run.

A runner takes (run directory, config, classifier, task data) and returns an `AuditResult`; it loads what
its auditor needs (lexicons, WordNet, a sentence encoder, the privacy reference model) itself. The
`audit` workflow runs the enabled ones; `compress` re-runs some on each variant.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fairtune._registry import Registry

if TYPE_CHECKING:
    from fairtune._rundir import RunDir
    from fairtune.config import FairtuneConfig

#: (run, config, classifier, task data) -> AuditResult
Runner = Callable[["RunDir", "FairtuneConfig", Any, Any], Any]
#: name -> runner. Explain runs after fairness and robustness: it reads their documents.
AUDITORS: Registry[Runner] = Registry("auditor")


def register_auditor(name: str, order: int) -> Callable[[Runner], Runner]:
    """Register a runner for auditor `name` (also its `audit.<name>` config section), run by `order`."""
    return AUDITORS.register(name, order)


def enabled_auditors(cfg: FairtuneConfig) -> list[str]:
    return [name for name in AUDITORS if getattr(cfg.audit, name).enabled]


@register_auditor("fairness", order=10)
def _fairness(run: RunDir, cfg: FairtuneConfig, clf: Any, task: Any) -> Any:
    from fairtune.audits.fairness import audit_fairness
    from fairtune.config import FAIRNESS_DIMENSIONS
    from fairtune.data import load_lexicons

    # The lexicons fairtune's own mitigation uses (or used, for a child run), for the EEC-overlap check.
    cfc = cfg.train.counterfactual
    mitigation = load_lexicons(
        cfc.dimensions if cfc else list(FAIRNESS_DIMENSIONS),
        cfc.lexicon_dir if cfc else cfg.audit.fairness.lexicon_dir,
        "train.counterfactual",
    )
    return audit_fairness(
        clf,
        task.eval,
        cfg.audit.fairness,
        group_column=cfg.data.group_column,
        mitigation_lexicons=mitigation,
        mitigation_pronouns=bool(cfc and cfc.pronouns),
    )


@register_auditor("robustness", order=20)
def _robustness(run: RunDir, cfg: FairtuneConfig, clf: Any, task: Any) -> Any:
    from fairtune.audits.robustness import SentenceEncoder, audit_robustness
    from fairtune.data import load_wordnet

    rc = cfg.audit.robustness
    wordnet = load_wordnet(rc.wordnet, "audit.robustness.wordnet")
    encoder = (
        SentenceEncoder.from_name(cfg.model.name, max_length=cfg.data.max_length)
        if rc.attack and rc.min_similarity
        else None
    )
    return audit_robustness(clf, task.eval, rc, wordnet=wordnet, encoder=encoder)


@register_auditor("explain", order=30)
def _explain(run: RunDir, cfg: FairtuneConfig, clf: Any, task: Any) -> Any:
    from fairtune._io import read_json
    from fairtune.audits.explain import audit_explain

    prior = {
        name: read_json(run.root / "audit" / f"{name}.json")
        for name in ("fairness", "robustness")
        if (run.root / "audit" / f"{name}.json").is_file()
    }
    return audit_explain(
        clf, task.eval, cfg.audit.explain, prior=prior, log=lambda m: print(m, file=sys.stderr, flush=True)
    )


@register_auditor("privacy", order=40)
def _privacy(run: RunDir, cfg: FairtuneConfig, clf: Any, task: Any) -> Any:
    from fairtune._io import read_json
    from fairtune.audits.privacy import audit_privacy
    from fairtune.audits.privacy._reference import privacy_reference
    from fairtune.data import Canaries

    canary_file = run.root / "canaries.json"
    canaries = Canaries.from_dict(read_json(canary_file)) if canary_file.is_file() else None
    dp = run.read_metrics().get("train", {}).get("privacy") if run.metrics.is_file() else None
    reference, reference_texts = None, None
    if cfg.audit.privacy.reference_data:
        reference, reference_texts = privacy_reference(run, cfg)
    return audit_privacy(
        clf,
        task.train,
        task.eval,
        cfg.audit.privacy,
        reference=reference,
        reference_texts=reference_texts,
        canaries=canaries,
        dp=dp,
    )
