"""`fairtune mitigate RUN_DIR --fairness cda|clp|both`: train a child run with a mitigation, re-audit it.

The child lives in RUN_DIR/mitigate/fairness-<method>/ with the parent's config plus
`train.counterfactual`, so it is an ordinary run directory (train, evaluate, audit and report all
work on it). `mitigation.json` in the child links it to its parent and holds the before/after table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json, read_json
from fairtune._rundir import RunDir
from fairtune.config import CounterfactualConfig, FairtuneConfig
from fairtune.errors import MITIGATE_NOTHING, FairtuneError

#: What the before/after table shows for a fairness mitigation: metric, and whether lower is better.
FAIRNESS_COMPARED = (
    ("eval.accuracy", False),
    ("eval.ece", True),
    ("fairness.eec_gender_gap", True),
    ("fairness.eec_race_gap", True),
    ("fairness.flip_rate", True),
    ("fairness.mean_abs_delta", True),
    ("fairness.template_spread_max", True),
    ("fairness.demographic_parity_difference", True),
    ("fairness.equalized_odds_difference", True),
)


def child_config(
    parent: FairtuneConfig, parent_root: Path, method: str, clp_lambda: float | None
) -> FairtuneConfig:
    extra = {"clp_lambda": clp_lambda} if clp_lambda is not None else {}
    cf = CounterfactualConfig.model_validate({"method": method, **extra})
    train = parent.train.model_copy(update={"counterfactual": cf})
    return parent.model_copy(
        update={"name": f"fairness-{method}", "output_dir": str(parent_root / "mitigate"), "train": train}
    )


def compare(parent_root: Path, child_root: Path) -> list[dict[str, Any]]:
    """Rows of metric, parent, child, delta and relative change (negative = reduced)."""
    from fairtune.report import collect_metrics

    before, after = collect_metrics(parent_root), collect_metrics(child_root)
    rows = []
    for metric, lower_better in FAIRNESS_COMPARED:
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


def _train_child(
    cfg: FairtuneConfig, overwrite: bool, show_progress: bool, log: Callable[[str], None]
) -> None:
    import shutil

    from fairtune.training import latest_checkpoint
    from fairtune.workflows.train import train

    run = RunDir.for_config(cfg)
    if overwrite:
        shutil.rmtree(run.root, ignore_errors=True)
    run.check_same_config(cfg)  # a child of an older config is refused, not silently reused
    if (run.model / "config.json").is_file() and run.metrics.is_file():
        log(f"mitigate: {run.root} is already trained with this config; re-auditing only")
        return
    resume = latest_checkpoint(run.checkpoints) is not None
    train(cfg, resume=resume, overwrite=not resume, show_progress=show_progress)


def mitigate(
    run_dir: str | Path,
    *,
    fairness: str | None,
    clp_lambda: float | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train, audit and compare one child per requested mitigation; re-render the parent's report."""
    from fairtune.workflows.audit import audit

    if fairness is None:
        raise FairtuneError(MITIGATE_NOTHING)
    parent = RunDir(Path(run_dir))
    parent.require_model()
    pcfg = parent.load_config()
    if not (parent.root / "audit" / "fairness.json").is_file():
        log("mitigate: the parent has no fairness audit yet; auditing it first")
        audit(parent.root, only=["fairness"], log=log)
    cfg = child_config(pcfg, parent.root, fairness, clp_lambda)
    child = RunDir.for_config(cfg)
    log(f"mitigate: training {child.root} with train.counterfactual.method={fairness}")
    _train_child(cfg, overwrite, show_progress, log)
    audit(child.root, only=["fairness"], log=log)
    metrics = read_json(child.metrics)
    doc = {
        "schema": "fairtune/mitigation/v1",
        "kind": "fairness",
        "method": fairness,
        "parent": str(parent.root),
        "child": str(child.root),
        "counterfactual": metrics.get("train", {}).get("counterfactual"),
        "comparison": compare(parent.root, child.root),
    }
    atomic_write_json(child.root / "mitigation.json", doc)
    if (parent.root / "report.html").is_file():
        from fairtune.workflows.report import report

        report(parent.root)
    return [doc]


def read_mitigations(run_root: Path) -> list[dict[str, Any]]:
    """Every mitigation.json under RUN/mitigate/*/, for the parent's report."""
    return [read_json(p) for p in sorted((run_root / "mitigate").glob("*/mitigation.json"))]
