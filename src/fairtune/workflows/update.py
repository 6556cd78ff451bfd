"""`fairtune update RUN_DIR --data NEW_FILE [--replay 0.5]`: refresh a deployed model with new labelled
data under the same gates, and promote it only when nothing got worse.

The child trains from the parent's weights on the new data plus a replayed share of the old training
data, in RUN_DIR/updates/<name>/, with the parent's settings. Both models are scored on the old eval
split (forgetting) and on a held-out part of the new data (gain); the child is audited as the parent
was. It is promoted (RUN_DIR/current.json, which `fairtune serve` follows and reloads on) only when
every gate passes and no audit or evaluation metric is worse than the parent's beyond the tolerance;
otherwise update.json and the log say which one blocked it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtune._io import atomic_write_json, read_json
from fairtune._rundir import RunDir
from fairtune._stages import register_stage, stage
from fairtune.errors import UPDATE_BAD_SETTING, UPDATE_TOO_FEW, FairtuneError

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig
    from fairtune.data import LabelledData

UPDATES = "updates"
NEW_EVAL = "new"


def check_settings(
    replay: float, eval_fraction: float, tolerance: float, relative: float, lr: float | None = None
) -> None:
    for flag, value, lo, hi in (
        ("--replay", replay, 0.0, 10.0),
        ("--lr", 1e-4 if lr is None else lr, 1e-8, 1.0),
        ("--eval-fraction", eval_fraction, 0.05, 0.5),
        ("--tolerance", tolerance, 0.0, float("inf")),
        ("--relative-tolerance", relative, 0.0, float("inf")),
    ):
        if not lo <= value <= hi:
            raise FairtuneError(UPDATE_BAD_SETTING.format(flag=flag, value=value, lo=lo, hi=hi))


def write_jsonl(path: Path, data: LabelledData, labels: list[str], cfg: FairtuneConfig) -> Path:
    """`data` as JSONL with the parent's text and label columns (label names, not ids), encrypted under
    the parent's `encryption:` section."""
    from fairtune.data import write_jsonl as write

    return write(path, data, labels, cfg.data.text_column, cfg.data.label_column, cfg.encryption)


def prepare_data(
    parent: RunDir,
    pcfg: FairtuneConfig,
    new: LabelledData,
    labels: list[str],
    folder: Path,
    replay: float,
    eval_fraction: float,
) -> tuple[dict[str, Any], LabelledData]:
    """Write the child's training file (new rows + replayed old ones), the old eval split and the new
    held-out split into `folder`; return their paths and counts, and the held-out new rows."""
    import numpy as np

    from fairtune.data import LabelledData as Data
    from fairtune.data import load_task_data, stratified_split

    new_train, new_eval = stratified_split(new, eval_fraction, pcfg.seed)
    task = load_task_data(pcfg.data.model_copy(update={"label_names": labels}), pcfg.seed, pcfg.encryption)
    n_old = min(len(task.train), round(replay * len(new_train)))
    idx = np.sort(np.random.default_rng(pcfg.seed).permutation(len(task.train))[:n_old])
    old = task.train.subset(idx)
    train = Data(new_train.texts + old.texts, np.concatenate([new_train.labels, old.labels]), None, "update")
    files = {
        "labels": labels,
        "train": str(write_jsonl(folder / "train.jsonl", train, labels, pcfg)),
        "old_eval": str(write_jsonl(folder / "old_eval.jsonl", task.eval, labels, pcfg)),
        "new_eval": str(write_jsonl(folder / "new_eval.jsonl", new_eval, labels, pcfg)),
        "rows": {
            "new_train": len(new_train),
            "replayed": n_old,
            "new_eval": len(new_eval),
            "old_eval": len(task.eval),
        },
    }
    return files, new_eval


def child_config(
    pcfg: FairtuneConfig,
    parent: RunDir,
    name: str,
    files: dict[str, Any],
    epochs: int | None,
    lr: float | None = None,
) -> FairtuneConfig:
    """The parent's recipe, warm-started from its model, on the prepared files, in RUN_DIR/updates/."""
    from fairtune.config import build_config, config_to_dict, on_jsonl_files

    raw = config_to_dict(pcfg)
    raw.update(name=name, output_dir=str(parent.root / UPDATES))
    raw["model"]["name"] = str(parent.current_model)
    on_jsonl_files(raw, files["train"], files["old_eval"], files["labels"])
    raw["train"].update(canaries=None, epochs=epochs or pcfg.train.epochs, max_steps=None)
    raw["train"]["lr"] = lr or pcfg.train.lr
    # the attack's similarity encoder stays the parent's foundation model, not the parent's weights
    rc = pcfg.audit.robustness
    raw["audit"]["robustness"]["similarity_model"] = rc.similarity_model or pcfg.model.name
    return build_config(raw)


def served_run(parent: RunDir) -> RunDir:
    """The run whose model is deployed now: the last promoted update's, else the parent itself. The
    child is compared with it."""
    return RunDir(parent.root / read_json(parent.current)["run"]) if parent.current.is_file() else parent


def scored(run: RunDir, new_eval: LabelledData) -> dict[str, float]:
    """Every gateable number of a run, plus `new.accuracy`, `new.macro_f1`, `new.ece` of its model on the
    new held-out rows (scored here: the run's own data settings may read labels in another form)."""
    from fairtune.evaluation import classification_metrics
    from fairtune.models import load_run_classifier
    from fairtune.report import collect_metrics

    _, _, clf = load_run_classifier(run.root)
    new = classification_metrics(new_eval.labels, clf.predict_proba(new_eval.texts), clf.labels)
    return {
        **collect_metrics(run.root),
        **{f"{NEW_EVAL}.{k}": float(new[k]) for k in ("accuracy", "macro_f1", "ece")},
    }


def _reaudit_served(base: RunDir, log: Callable[[str], None]) -> None:
    """Audit the served run again where its audit documents cannot be compared with what today's auditors
    write of the child (another version of an auditor, other settings, none yet), and re-render its report."""
    from fairtune.audits import describe_stale, enabled_auditors, stale_audits

    stale = stale_audits(base.root, enabled_auditors(base.load_config()))
    if not stale:
        return
    log(f"update: auditing {base.root} again before the comparison ({describe_stale(stale)})")
    stage("audit")(base.root, only=list(stale), log=log)
    stage("report")(base.root)


def decide(gates: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """Why the child may not be promoted (empty: it may)."""
    failed = [f"gate {g['metric']} failed" for g in gates["gates"] if not g["passed"]]
    worse = [
        f"{r['metric']} worse by {r['worse_by']:.4g} (allowed {r['allowed']:.4g})"
        for r in rows
        if r["blocks"]
    ]
    return failed + worse


def promote(parent: RunDir, child: Path, doc: dict[str, Any]) -> None:
    previous = read_json(parent.current) if parent.current.is_file() else None
    lineage = [
        *(previous or {}).get("lineage", [str(parent.model.relative_to(parent.root))]),
        str(child.relative_to(parent.root) / "model"),
    ]
    atomic_write_json(
        parent.current,
        {
            "model": str((child / "model").relative_to(parent.root)),
            "run": str(child.relative_to(parent.root)),
            "promoted": doc["finished"],
            "lineage": lineage,
        },
    )


def update(
    run_dir: str | Path,
    data: Any,
    *,
    replay: float = 0.5,
    eval_fraction: float = 0.2,
    tolerance: float = 0.01,
    relative: float = 0.05,
    name: str | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    promote_child: bool = True,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, score, audit and compare the refreshed child; promote it when nothing blocks. Returns the
    content of update.json."""
    from fairtune._crypto import check_key
    from fairtune.data import labelled_data
    from fairtune.evaluation._promotion import compare_metrics

    check_settings(replay, eval_fraction, tolerance, relative, lr)
    parent = RunDir(Path(run_dir))
    parent.require_model()
    pcfg = parent.load_config()
    check_key(pcfg.encryption)  # the child's data files are written encrypted: no key, no work
    labels = list(parent.read_metrics()["labels"])
    columns = {
        "text_column": text_column or pcfg.data.text_column,
        "label_column": label_column or pcfg.data.label_column,
    }
    new = labelled_data(data, labels, **columns, field="--data")
    if len(new) < 20:
        raise FairtuneError(UPDATE_TOO_FEW.format(n=len(new), path=data))
    name = name or datetime.now(UTC).strftime("update-%Y%m%d-%H%M%S")
    folder = parent.root / UPDATES / f"{name}-data"
    files, new_eval = prepare_data(parent, pcfg, new, labels, folder, replay, eval_fraction)
    counts = files["rows"]
    log(f"update: {counts['new_train']} new rows + {counts['replayed']} replayed; training {name}")
    ccfg = child_config(pcfg, parent, name, files, epochs, lr)
    child = RunDir.for_config(ccfg)
    base = served_run(parent)
    _reaudit_served(base, log)  # before training: a failing audit costs no training
    stage("train")(ccfg, overwrite=True, show_progress=show_progress)
    stage("audit")(child.root, log=log)
    gates = stage("report")(child.root)
    rows = compare_metrics(
        scored(base, new_eval),
        scored(child, new_eval),
        tolerance=tolerance,
        relative=relative,
    )
    blocked = decide(gates, rows)
    doc = {
        "schema": "fairtune/update/v1",
        "parent": str(parent.root),
        "compared_with": str(base.root),
        "child": str(child.root),
        "data": files,
        "replay": replay,
        "train": {"epochs": ccfg.train.epochs, "lr": ccfg.train.lr},
        "tolerance": {"absolute": tolerance, "relative": relative},
        "comparison": rows,
        "gates_passed": gates["passed"],
        "blocked_by": blocked,
        "promoted": bool(promote_child and not blocked),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(child.root / "update.json", doc)
    if doc["promoted"]:
        promote(parent, child.root, doc)
    return doc


register_stage("update", update)
