"""`fairtune audit RUN_DIR [--only NAME ...]`: run auditors on a trained run; write audit/<name>.json."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairtune._rundir import RunDir
from fairtune.config import FairtuneConfig
from fairtune.errors import AUDIT_OVERRIDE_NOT_RUN, AUDIT_UNKNOWN, FairtuneError

AUDITORS = ("fairness", "robustness", "explain", "privacy")


def audit_input_problems(cfg: FairtuneConfig) -> list[str]:
    """What the enabled auditors and mitigations will need, checked before any training: lexicons,
    templates, the EEC file, WordNet. Returns every problem (empty when all is in place)."""
    from fairtune.audits.fairness import read_eec
    from fairtune.data import load_lexicons, prepare_wordnet
    from fairtune.errors import collector

    problems: list[str] = []
    attempt = collector(problems)

    fa, ra = cfg.audit.fairness, cfg.audit.robustness
    if fa.enabled:
        from fairtune.audits.fairness._identity import load_identity_templates

        lexicons: list[Any] = []
        attempt(lambda: lexicons.extend(load_lexicons(fa.dimensions, fa.lexicon_dir, "audit.fairness")))
        if lexicons and fa.identity_terms:
            attempt(load_identity_templates, fa.identity_templates, lexicons)
        if fa.eec:
            attempt(read_eec, fa.eec, "audit.fairness.eec")
    from fairtune.mitigations._preflight import mitigation_input_problems

    problems.extend(mitigation_input_problems(cfg))
    ag = cfg.train.augment
    if ag is not None and ag.method == "eda":
        attempt(prepare_wordnet, ag.wordnet, "train.augment.wordnet")
    if ag is not None and ag.method == "backtranslate":
        from fairtune.data._augment import check_augment_models

        problems.extend(check_augment_models(ag))
    if ra.enabled:
        attempt(prepare_wordnet, ra.wordnet, "audit.robustness.wordnet")
    import importlib.util

    ea = cfg.audit.explain
    if ea.enabled and "shap" in {*ea.methods, ea.global_method}:
        from fairtune.errors import EXPLAIN_SHAP_MISSING

        if importlib.util.find_spec("shap") is None:
            problems.append("audit.explain.methods: " + EXPLAIN_SHAP_MISSING)
    if cfg.data.redact:
        from fairtune.data._pii import SPACY_INSTALL, settings_from_config, spacy_pipeline_available

        model = settings_from_config(cfg.data).spacy_model
        if not spacy_pipeline_available(model):
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
    from fairtune._io import read_json
    from fairtune.audits.privacy import audit_privacy
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


def privacy_reference_config(run: RunDir, cfg: FairtuneConfig) -> FairtuneConfig:
    """The reference model's config: the run's own recipe, on audit.privacy.reference_data instead of
    data.train, without canaries, and without DP."""
    from fairtune.config import build_config, config_to_dict

    pa = cfg.audit.privacy
    raw = config_to_dict(cfg)
    raw.update(name="privacy-reference", output_dir=str(run.root / "audit"), gates={})
    raw["data"].update(train=pa.reference_data, max_train_rows=None, extra_train=None)
    raw["train"].update(canaries=None, epochs=pa.reference_epochs or cfg.train.epochs, max_steps=None)
    if pa.reference_lr is not None:
        raw["train"].update(lr=pa.reference_lr)
    if cfg.train.privacy is not None:
        # The attacker's own model need not be private: a better-fit reference makes a stronger attack.
        # DP's large batches would leave it a handful of steps on a small reference set, and DP's learning
        # rate (tuned for clipped, noisy gradients) makes plain fine-tuning of every weight diverge.
        # LoRA adapters keep the run's rate: at the full fine-tuning default they barely move.
        raw["train"].update(privacy=None, batch_size=32)
        if pa.reference_lr is None and cfg.model.lora is None:  # the default fine-tuning rate
            from fairtune.config._schema import TrainConfig

            raw["train"].update(lr=TrainConfig.model_fields["lr"].default)
    return build_config(raw)


def privacy_reference(run: RunDir, cfg: FairtuneConfig) -> tuple[Any, set[str]]:
    """Train (or reuse) the privacy audit's reference model (`privacy_reference_config`). It lives in
    audit/privacy-reference/ and is reused while its config is unchanged."""
    from fairtune.data import load_task_data
    from fairtune.errors import RunError
    from fairtune.models import TorchClassifier
    from fairtune.workflows.train import train

    pa = cfg.audit.privacy
    ref_cfg = privacy_reference_config(run, cfg)
    ref_run = RunDir.for_config(ref_cfg)
    reuse = ref_run.model.is_dir()
    if reuse:
        try:
            ref_run.check_same_config(ref_cfg)
        except RunError:
            reuse = False
    if not reuse:
        print(
            f"audit privacy: training the reference model on {pa.reference_data}", file=sys.stderr, flush=True
        )
        train(ref_cfg, overwrite=True, show_progress=sys.stderr.isatty())
    texts = load_task_data(ref_cfg.data, ref_cfg.seed).train.texts
    clf = TorchClassifier.from_dir(
        ref_run.model,
        batch_size=cfg.train.eval_batch_size,
        max_length=cfg.data.max_length,
        precision=cfg.train.precision,
    )
    return clf, set(texts)


RUNNERS: dict[str, Callable[[RunDir, FairtuneConfig, Any, Any], Any]] = {
    "fairness": _fairness,
    "robustness": _robustness,
    "explain": _explain,
    "privacy": _privacy,
}


def audit_mlm(
    target: str | Path,
    crows: str | None,
    *,
    max_pairs: int | None = None,
    bootstrap: int = 1000,
    output: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """CrowS-Pairs on a masked LM: a model folder or name, or a run directory whose model/ is one (a
    `fairtune pretrain` run). Writes audit/mlm_bias.json in a run directory, else `output` if given."""
    from fairtune.audits.mlm_bias import audit_mlm_bias, read_crows
    from fairtune.errors import MLM_NO_HEAD
    from fairtune.training._pretrain import has_mlm_head, load_mlm

    if not crows:
        raise FairtuneError(
            "--crows: the mlm_bias audit needs the CrowS-Pairs file. Pass --crows "
            "PATH/crows_pairs_anonymized.csv (from nyu-mll/crows-pairs; ../shared/data/crows_pairs/ here)."
        )
    root = Path(target)
    run_root = root if (root / "config.yaml").is_file() and (root / "model").is_dir() else None
    name = str(run_root / "model") if run_root else str(target)
    pairs = read_crows(crows)
    if max_pairs:
        pairs = pairs.iloc[:max_pairs]
    if not has_mlm_head(name):
        raise FairtuneError(MLM_NO_HEAD.format(model=target))
    model, tok, _ = load_mlm(name)
    log(f"audit mlm_bias: {len(pairs)} CrowS-Pairs pairs on {name}")
    result = audit_mlm_bias(model, tok, pairs, model_name=str(target), bootstrap=bootstrap)
    if run_root is not None:
        path = result.write(run_root)
        log(f"audit mlm_bias: stereotype score {result.metrics['stereotype_score']:.3f} -> {path}")
    elif output:
        from fairtune._io import atomic_write_json

        atomic_write_json(output, result.to_json())
    return result.to_json()


def _override_audit_settings(
    run: RunDir, overrides: list[str], only: list[str] | None, log: Callable[[str], None]
) -> None:
    """Save `audit.*` overrides into the run's config.yaml before auditing. A setting of an auditor
    that --only leaves out is refused: the stored config would claim a setting its document did not
    use. The pipeline's record of the audit stage is restamped with the new settings, so a later
    `fairtune run` with other audit settings redoes the audits instead of keeping these."""
    from fairtune._io import atomic_write_json, read_json
    from fairtune.workflows.run import fingerprint

    run.require_model()
    if only:
        for text in overrides:
            parts = text.partition("=")[0].split(".")
            if len(parts) > 1 and parts[0] == "audit" and parts[1] in AUDITORS and parts[1] not in only:
                raise FairtuneError(AUDIT_OVERRIDE_NOT_RUN.format(text=text, name=parts[1]))
    cfg = run.override_config(overrides, ("audit",), "fairtune audit")
    log(f"audit: settings saved to {run.config}: {', '.join(overrides)}")
    if run.stages.is_file():
        stages = read_json(run.stages)
        if "audit" in stages:
            stages["audit"]["inputs"] = fingerprint(cfg, "audit")
            atomic_write_json(run.stages, stages)


def audit(
    run_dir: str | Path,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
    overrides: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the chosen (default: enabled) auditors; return {name: audit document}. `overrides`
    (`audit.privacy.sample=500`) change the run's audit settings first, saved to its config.yaml."""
    from fairtune.data import load_task_data
    from fairtune.workflows.predict import load_run_classifier

    bad = [n for n in only or [] if n not in AUDITORS]
    if bad:
        raise FairtuneError(AUDIT_UNKNOWN.format(name=bad[0], known=", ".join((*AUDITORS, "mlm_bias"))))
    if overrides:
        _override_audit_settings(RunDir(Path(run_dir)), overrides, only, log)
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
