"""`fairtune audit RUN_DIR [--only NAME ...]`: run auditors on a trained run; write audit/<name>.json."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairtune._rundir import RunDir
from fairtune.config import FairtuneConfig
from fairtune.errors import AUDIT_UNKNOWN, FairtuneError

AUDITORS = ("fairness", "robustness", "explain", "privacy")


def audit_input_problems(cfg: FairtuneConfig) -> list[str]:
    """What the enabled auditors and mitigations will need, checked before any training: lexicons,
    the EEC file, WordNet. Returns every problem (empty when all is in place)."""
    from fairtune.audits.fairness import read_eec
    from fairtune.data import load_lexicons, prepare_wordnet
    from fairtune.errors import FairtuneError

    problems: list[str] = []

    def attempt(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except FairtuneError as exc:
            problems.extend(exc.problems)

    fa, ra, cf = cfg.audit.fairness, cfg.audit.robustness, cfg.train.counterfactual
    if fa.enabled:
        attempt(load_lexicons, fa.dimensions, fa.lexicon_dir, "audit.fairness")
        if fa.eec:
            attempt(read_eec, fa.eec, "audit.fairness.eec")
    if cf is not None:
        attempt(load_lexicons, cf.dimensions, cf.lexicon_dir, "train.counterfactual")
    if ra.enabled:
        attempt(prepare_wordnet, ra.wordnet, "audit.robustness.wordnet")
    import importlib.util

    ea = cfg.audit.explain
    if ea.enabled and "shap" in {*ea.methods, ea.global_method}:
        from fairtune.errors import EXPLAIN_SHAP_MISSING

        if importlib.util.find_spec("shap") is None:
            problems.append("audit.explain.methods: " + EXPLAIN_SHAP_MISSING)
    if cfg.data.redact:
        from fairtune.data._pii import SPACY_INSTALL, settings_from_config

        model = settings_from_config(cfg.data).spacy_model
        if importlib.util.find_spec(model) is None:
            problems.append(
                f"data.pii.spacy_model: the spaCy pipeline {model!r} that data.redact needs is missing. "
                f"Install it with `{SPACY_INSTALL}`."
            )
    return problems


def enabled_auditors(cfg: FairtuneConfig) -> list[str]:
    return [name for name in AUDITORS if getattr(cfg.audit, name).enabled]


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


def _privacy(run: RunDir, cfg: FairtuneConfig, clf: Any, task: Any) -> Any:
    from fairtune.audits.privacy import audit_privacy

    return audit_privacy(clf, task.train, task.eval, cfg.audit.privacy)


RUNNERS: dict[str, Callable[[RunDir, FairtuneConfig, Any, Any], Any]] = {
    "fairness": _fairness,
    "robustness": _robustness,
    "explain": _explain,
    "privacy": _privacy,
}


def audit(
    run_dir: str | Path, only: list[str] | None = None, log: Callable[[str], None] = print
) -> dict[str, dict[str, Any]]:
    """Run the chosen (default: enabled) auditors; return {name: audit document}."""
    from fairtune.data import load_task_data
    from fairtune.workflows.predict import load_run_classifier

    bad = [n for n in only or [] if n not in AUDITORS]
    if bad:
        raise FairtuneError(AUDIT_UNKNOWN.format(name=bad[0], known=", ".join(AUDITORS)))
    run, cfg, clf = load_run_classifier(run_dir)
    names = only or enabled_auditors(cfg)
    # Loaded once for every auditor: eval for all, train too for the privacy audit's members.
    task = load_task_data(cfg.data.model_copy(update={"label_names": clf.labels}), cfg.seed)
    out = {}
    for name in names:
        log(f"audit {name}: running on {run.root}")
        result = RUNNERS[name](run, cfg, clf, task)
        path = result.write(run.root)
        log(
            f"audit {name}: {len(result.metrics)} metrics, {len(result.findings)} findings in "
            f"{result.seconds:.1f}s -> {path}"
        )
        out[name] = result.to_json()
    return out
