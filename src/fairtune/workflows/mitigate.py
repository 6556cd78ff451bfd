"""`fairtune mitigate RUN_DIR --fairness cda|clp|both | --robustness adv|augment|both
| --privacy dp|redact`.

Trains a child run with the mitigation and re-audits it with the parent's audit settings (for
robustness: the same attack sample and constraints). The child lives in RUN_DIR/mitigate/<kind>-<method>/
with the parent's config plus the mitigation's keys (`train.counterfactual`, `train.adversarial`,
`data.extra_train`, `train.privacy`, `data.redact`), so it is an ordinary run directory.
`mitigation.json` in the child links it to its parent and holds the before/after table; the parent's
report shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json, atomic_write_text, read_json
from fairtune._rundir import RunDir
from fairtune.config import AdversarialConfig, CounterfactualConfig, DpConfig, FairtuneConfig
from fairtune.errors import MITIGATE_NOTHING, FairtuneError

#: What the before/after table shows per kind: metric, and whether lower is better.
COMPARED: dict[str, tuple[tuple[str, bool], ...]] = {
    "fairness": (
        ("eval.accuracy", False),
        ("eval.ece", True),
        ("fairness.eec_gender_gap", True),
        ("fairness.eec_race_gap", True),
        ("fairness.flip_rate", True),
        ("fairness.mean_abs_delta", True),
        ("fairness.template_spread_max", True),
        ("fairness.demographic_parity_difference", True),
        ("fairness.equalized_odds_difference", True),
    ),
    "robustness": (
        ("eval.accuracy", False),
        ("eval.ece", True),
        ("robustness.attack_success_rate", True),
        ("robustness.accuracy_under_attack", False),
        ("robustness.invariance_failure_rate", True),
        ("robustness.invariance_failure_rate_max", True),
        ("robustness.queries_per_example", False),
    ),
    "privacy": (
        ("eval.accuracy", False),
        ("eval.ece", True),
        ("privacy.mia_auc", True),
        ("privacy.mia_tpr_at_1pct_fpr", True),
        ("privacy.mia_calibrated_auc", True),
        ("privacy.mia_calibrated_tpr_at_1pct_fpr", True),
        *((f"privacy.canary_exposure_r{r}", True) for r in (1, 4, 16)),
        ("train.samples_per_second", False),
    ),
}


def child_config(
    parent: FairtuneConfig, parent_root: Path, kind: str, method: str, options: dict[str, Any]
) -> FairtuneConfig:
    """The parent's config plus the mitigation's keys, named <kind>-<method>, under RUN_DIR/mitigate/."""
    out_dir = parent_root / "mitigate"
    name = f"{kind}-{method}"
    train_update: dict[str, Any] = {}
    data = parent.data
    if kind == "fairness":
        extra = {"clp_lambda": options["clp_lambda"]} if options.get("clp_lambda") is not None else {}
        train_update["counterfactual"] = CounterfactualConfig.model_validate({"method": method, **extra})
    elif kind == "privacy":
        if method == "dp":
            dp = {"epsilon": options["dp_epsilon"]} if options.get("dp_epsilon") is not None else {}
            # DP-SGD is per training text: mitigations that add copies of texts cannot come along.
            train_update.update(privacy=DpConfig.model_validate(dp), counterfactual=None, adversarial=None)
            for key, opt in (("batch_size", "dp_batch_size"), ("lr", "dp_lr")):
                if options.get(opt) is not None:
                    train_update[key] = options[opt]
        else:
            data = data.model_copy(update={"redact": True})
    else:
        if method in ("adv", "both"):
            adv = {k: options[k] for k in ("epsilon", "steps") if options.get(k) is not None}
            if options.get("adv_method"):
                adv["method"] = options["adv_method"]
            train_update["adversarial"] = AdversarialConfig.model_validate(adv)
        if method in ("augment", "both"):
            data = data.model_copy(update={"extra_train": str(out_dir / name / "augment.jsonl")})
    from fairtune.config import build_config, config_to_dict

    # through build_config, so the child's config is validated as a whole (e.g. DP with its batch size)
    raw = config_to_dict(parent.model_copy(update={"name": name, "output_dir": str(out_dir), "data": data}))
    raw["train"].update(
        {k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in train_update.items()}
    )
    return build_config(raw)


def compare(parent_root: Path, child_root: Path, kind: str) -> list[dict[str, Any]]:
    """Rows of metric, parent, child, delta and relative change (negative = reduced)."""
    from fairtune.report import collect_metrics

    before, after = collect_metrics(parent_root), collect_metrics(child_root)
    rows = []
    for metric, lower_better in COMPARED[kind]:
        if metric not in before or metric not in after:
            continue
        b, a = before[metric], after[metric]
        rows.append(
            {
                "metric": metric,
                "parent": b,
                "child": a,
                "delta": a - b,
                "relative": (a - b) / abs(b) if abs(b) > 1e-9 else None,
                "lower_is_better": lower_better,
                "improved": a < b if lower_better else a > b,
            }
        )
    return rows


def write_robust_augmentation(
    parent: RunDir, cfg: FairtuneConfig, path: Path, n_examples: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Adversarial and perturbed copies of a sample of *training* texts (never eval), made with the
    parent model under the parent's attack constraints; labels are the originals'."""
    import json
    import random

    import numpy as np

    from fairtune.audits.robustness import (
        Perturbations,
        SentenceEncoder,
        WordSubstitutionAttack,
        attack_settings,
        sample_indices,
    )
    from fairtune.audits.robustness._audit import read_names
    from fairtune.data import load_task_data, load_wordnet
    from fairtune.models import TorchClassifier

    rc = cfg.audit.robustness
    clf = TorchClassifier.from_dir(
        parent.model, batch_size=cfg.train.eval_batch_size, max_length=cfg.data.max_length
    )
    train = load_task_data(cfg.data.model_copy(update={"label_names": clf.labels}), cfg.seed).train
    idx = sample_indices(len(train), n_examples, cfg.seed)
    wordnet = load_wordnet(rc.wordnet, "audit.robustness.wordnet")
    encoder = (
        SentenceEncoder.from_name(cfg.model.name, max_length=cfg.data.max_length)
        if rc.min_similarity
        else None
    )
    log(f"mitigate: attacking {len(idx)} training texts with the parent model for augmentation")
    out = WordSubstitutionAttack(clf, wordnet, attack_settings(rc), encoder).run(
        [train.texts[i] for i in idx], train.labels[idx]
    )
    rows = [(a["adversarial"], a["label"]) for a in out["adversarial"]]
    perturb = Perturbations(wordnet, read_names()).all()
    rng = random.Random(cfg.seed)
    n_perturbed = 0
    for i in idx:
        names = list(perturb)
        rng.shuffle(names)
        for name in names:
            new = perturb[name](train.texts[i], rng)
            if new is not None and new != train.texts[i]:
                rows.append((new, clf.labels[int(train.labels[i])]))
                n_perturbed += 1
                break
    atomic_write_text(
        path,
        "".join(
            json.dumps({cfg.data.text_column: t, cfg.data.label_column: lab}, ensure_ascii=False) + "\n"
            for t, lab in rows
        ),
    )
    return {
        "train_texts_sampled": len(idx),
        "adversarial_added": len(out["adversarial"]),
        "attack_success_rate_on_train": out["attack_success_rate"],
        "perturbed_added": n_perturbed,
        "file": str(path),
        "seconds": out["seconds"],
        "label_shares": {lab: float(np.mean([r[1] == lab for r in rows])) for lab in clf.labels}
        if rows
        else {},
    }


def _train_child(cfg: FairtuneConfig, show_progress: bool, log: Callable[[str], None]) -> None:
    """Train the child unless it is already trained with this config (the caller checked the config)."""
    from fairtune.training import latest_checkpoint
    from fairtune.workflows.train import train

    run = RunDir.for_config(cfg)
    if (run.model / "config.json").is_file() and run.metrics.is_file():
        log(f"mitigate: {run.root} is already trained with this config; re-auditing only")
        return
    resume = latest_checkpoint(run.checkpoints) is not None
    train(cfg, resume=resume, overwrite=not resume, show_progress=show_progress)


def mitigate(
    run_dir: str | Path,
    *,
    fairness: str | None = None,
    robustness: str | None = None,
    privacy: str | None = None,
    options: dict[str, Any] | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train, audit and compare the child for the requested mitigation; re-render the parent's report."""
    import shutil

    from fairtune.workflows.audit import audit

    chosen = [
        (k, m) for k, m in (("fairness", fairness), ("robustness", robustness), ("privacy", privacy)) if m
    ]
    if len(chosen) != 1:
        raise FairtuneError(MITIGATE_NOTHING)
    kind, method = chosen[0]
    assert method is not None
    options = options or {}
    parent = RunDir(Path(run_dir))
    parent.require_model()
    pcfg = parent.load_config()
    if not (parent.root / "audit" / f"{kind}.json").is_file():
        log(f"mitigate: the parent has no {kind} audit yet; auditing it first")
        audit(parent.root, only=[kind], log=log)
    cfg = child_config(pcfg, parent.root, kind, method, options)
    child = RunDir.for_config(cfg)
    if overwrite:
        shutil.rmtree(child.root, ignore_errors=True)
    child.check_same_config(cfg)
    augmentation = None
    if cfg.data.extra_train and not (child.model / "config.json").is_file():
        child.root.mkdir(parents=True, exist_ok=True)
        augmentation = write_robust_augmentation(
            parent, pcfg, Path(cfg.data.extra_train), options.get("augment_examples") or 2000, log
        )
        atomic_write_json(child.root / "augmentation.json", augmentation)
    log(f"mitigate: training {child.root} ({kind} mitigation '{method}')")
    _train_child(cfg, show_progress, log)
    audit(child.root, only=[kind], log=log)
    metrics = read_json(child.metrics)
    aug_path = child.root / "augmentation.json"
    doc = {
        "schema": "fairtune/mitigation/v1",
        "kind": kind,
        "method": method,
        "parent": str(parent.root),
        "child": str(child.root),
        "counterfactual": metrics.get("train", {}).get("counterfactual"),
        "adversarial": cfg.train.adversarial.model_dump() if cfg.train.adversarial else None,
        "privacy": metrics.get("train", {}).get("privacy"),
        "redaction": cfg.data.redact or None,
        "augmentation": augmentation or (read_json(aug_path) if aug_path.is_file() else None),
        "comparison": compare(parent.root, child.root, kind),
    }
    atomic_write_json(child.root / "mitigation.json", doc)
    if (parent.root / "report.html").is_file():
        from fairtune.workflows.report import report

        report(parent.root)
    return [doc]
