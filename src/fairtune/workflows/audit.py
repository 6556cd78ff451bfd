"""`fairtune audit RUN_DIR [--only NAME ...]`: run auditors on a trained run; write audit/<name>.json."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairtune._rundir import RunDir
from fairtune._stages import fingerprint, register_stage
from fairtune.errors import AUDIT_OVERRIDE_NOT_RUN, AUDIT_UNKNOWN, FairtuneError


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
    from fairtune.audits import classifier_auditors

    run.require_model()
    if only:
        for text in overrides:
            parts = text.partition("=")[0].split(".")
            if (
                len(parts) > 1
                and parts[0] == "audit"
                and parts[1] in classifier_auditors()
                and parts[1] not in only
            ):
                raise FairtuneError(AUDIT_OVERRIDE_NOT_RUN.format(text=text, name=parts[1]))
    cfg = run.override_config(overrides, ("audit",), "fairtune audit")
    log(f"audit: settings saved to {run.config}: {', '.join(overrides)}")
    if run.stages.is_file():
        stages = read_json(run.stages)
        if "audit" in stages:
            stages["audit"]["inputs"] = fingerprint(cfg, "audit")
            atomic_write_json(run.stages, stages)


def prior_documents(run: RunDir) -> dict[str, dict[str, Any]]:
    """The audit documents already in the run (the explain audit explains their worst examples)."""
    from fairtune._io import read_json

    return {path.stem: read_json(path) for path in sorted((run.root / "audit").glob("*.json"))}


def audit(
    run_dir: str | Path,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
    overrides: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the chosen (default: enabled) auditors; return {name: audit document}. `overrides`
    (`audit.privacy.sample=500`) change the run's audit settings first, saved to its config.yaml."""
    from fairtune.audits import AuditContext, auditors, classifier_auditors, enabled_auditors, provenance
    from fairtune.data import load_task_data
    from fairtune.models import load_run_classifier

    bad = [n for n in only or [] if n not in classifier_auditors()]
    if bad:
        raise FairtuneError(AUDIT_UNKNOWN.format(name=bad[0], known=", ".join(auditors())))
    if overrides:
        _override_audit_settings(RunDir(Path(run_dir)), overrides, only, log)
    run, cfg, clf = load_run_classifier(run_dir)
    names = only or enabled_auditors(cfg)
    # Loaded once for every auditor: eval for all, train too for the privacy audit's members.
    task = load_task_data(cfg.data.model_copy(update={"label_names": clf.labels}), cfg.seed, cfg.encryption)
    ctx = AuditContext(clf, task.eval, cfg, train=task.train, run=run, prior=prior_documents(run))
    out = {}
    for name in names:
        log(f"audit {name}: running on {run.root}")
        result = auditors()[name](ctx)
        result.provenance = provenance(name, cfg)
        path = result.write(run.root)
        log(
            f"audit {name}: {len(result.metrics)} metrics, {len(result.findings)} findings in "
            f"{result.seconds:.1f}s -> {path}"
        )
        out[name] = ctx.prior[name] = result.to_json()
    return out


register_stage("audit", audit)
