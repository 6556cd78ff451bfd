"""`fairtune mitigate ... --sweep KEY=V1,V2,...`: choose a mitigation's setting on a validation split of
the training data, never on the eval split.

The parent's training rows are split once (stratified, `--validation-share`, the parent's seed) into a
sweep-train part and a validation part, written in data/ of the sweep's folder,
RUN_DIR/mitigate/sweep-<child>-<key>-v<share>-<digest of the other options>/. There the parent's recipe
(the baseline) and the mitigated recipe with each candidate value are trained once each and audited
(the mitigation's own auditor) with the validation part as their eval split. Among the candidates whose
validation accuracy is within the kind's budget of the baseline's (0.5 points for fairness, 1 point for
robustness), the chosen value has the lowest mean harm relative to the baseline over the auditor's
compared metrics; when none is within the budget, the most accurate candidate is chosen and the sweep
says so. The mitigation then runs with that value as usual (all seeds, the full training data, the eval
split), in a child named after the value (<child>-sweep-<key>-<value>, or the child of that setting
where its name already tells the value, as fairness-all-tp16-clp0.25 and robustness-a2t-a2t0.25 do).
Each sweep point is one training: the sweep ranks settings, the seeds measure the chosen one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json, read_json
from fairtune._rundir import RunDir
from fairtune.config import FairtuneConfig

#: --sweep KEY -> (the mitigation kind it belongs to, its type)
SWEEPABLE: dict[str, tuple[str, type]] = {
    "clp_lambda": ("fairness", float),
    "template_pairs": ("fairness", int),
    "balance_per_phrase": ("fairness", int),
    "epsilon": ("robustness", float),
    "steps": ("robustness", int),
    "a2t_share": ("robustness", float),
    "perturb_share": ("robustness", float),
    "a2t_start": ("robustness", float),
    "synonym_share": ("robustness", float),
    "a2t_consistency": ("robustness", float),
}
#: Validation accuracy a chosen candidate may lose against the baseline, in points, per kind.
ACCURACY_BUDGET = {"fairness": 0.5, "robustness": 1.0}


def parse_sweep(text: str, kind: str, share: float) -> tuple[str, list[float]]:
    """`KEY=V1,V2,...` -> (key, values), checked against the mitigation's kind; FairtuneError otherwise.
    The values' ranges are checked where the config is built (naming the config field)."""
    from fairtune.errors import SWEEP_FORMAT, SWEEP_INTEGER, SWEEP_KEY, SWEEP_SHARE, FairtuneError

    if not 0 < share <= 0.5:
        raise FairtuneError(SWEEP_SHARE.format(value=share))
    key, _, rest = text.partition("=")
    key = key.strip()
    try:
        values = [float(v) for v in rest.split(",") if v.strip()]
    except ValueError:
        raise FairtuneError(SWEEP_FORMAT.format(value=text)) from None
    names = {point_name(key, v) for v in values}  # values that name the same run are one value
    if not key or len(names) < 2 or not all(math.isfinite(v) for v in values):
        raise FairtuneError(SWEEP_FORMAT.format(value=text))
    own = sorted(k for k, (kd, _) in SWEEPABLE.items() if kd == kind)
    if key not in own:
        raise FairtuneError(SWEEP_KEY.format(key=key, kind=kind, choices=", ".join(own)))
    if SWEEPABLE[key][1] is int:
        if any(v != int(v) for v in values):
            raise FairtuneError(SWEEP_INTEGER.format(key=key, value=rest))
        values = [int(v) for v in values]
    unique = {point_name(key, v): v for v in reversed(values)}  # the first of each name, in order
    return key, sorted(unique.values(), key=values.index)


def split_files(parent: RunDir, pcfg: FairtuneConfig, folder: Path, share: float) -> dict[str, Any]:
    """Write the sweep-train and validation parts of the parent's training rows; their paths and sizes."""
    from fairtune.data import load_task_data, stratified_split, write_jsonl

    labels = list(read_json(parent.metrics)["labels"])
    # the parent's own extra rows (data.extra_train: copies of training texts) stay out: a copy in the
    # validation part with its original in the sweep-train part would leak
    data_cfg = pcfg.data.model_copy(update={"label_names": labels, "extra_train": None})
    task = load_task_data(data_cfg, pcfg.seed, pcfg.encryption)
    train, validation = stratified_split(task.train, share, pcfg.seed)
    cols = (pcfg.data.text_column, pcfg.data.label_column, pcfg.encryption)
    return {
        "labels": labels,
        "train": str(write_jsonl(folder / "data" / "train.jsonl", train, labels, *cols)),
        "validation": str(write_jsonl(folder / "data" / "validation.jsonl", validation, labels, *cols)),
        "rows": {"train": len(train), "validation": len(validation)},
    }


def on_split(cfg: FairtuneConfig, folder: Path, files: dict[str, Any], name: str) -> FairtuneConfig:
    """`cfg` trained on the sweep-train part and evaluated (and audited) on the validation part."""
    from fairtune.config import build_config, config_to_dict, on_jsonl_files

    raw = config_to_dict(cfg)
    raw.update(name=name, output_dir=str(folder))
    on_jsonl_files(raw, files["train"], files["validation"], files["labels"])
    raw["train"]["canaries"] = None
    return build_config(raw)


def point_name(key: str, value: float) -> str:
    return f"{key}-{value:g}"


def relative_harm(metrics: dict[str, float], baseline: dict[str, float], harms: list[str]) -> float | None:
    """Mean over the harm metrics of value / baseline value (those with a baseline above 0)."""
    ratios = [metrics[m] / baseline[m] for m in harms if m in metrics and baseline.get(m, 0) > 1e-12]
    return sum(ratios) / len(ratios) if ratios else None


def choose(
    points: list[dict[str, Any]], baseline: dict[str, float], harms: list[str], budget: float
) -> dict[str, Any]:
    """The chosen point and why (see the module docstring)."""
    base_acc = baseline["eval.accuracy"]
    for p in points:
        p["accuracy_drop_points"] = (base_acc - p["metrics"]["eval.accuracy"]) * 100
        p["relative_harm"] = relative_harm(p["metrics"], baseline, harms)
        p["within_budget"] = p["accuracy_drop_points"] <= budget
    within = [p for p in points if p["within_budget"]]
    scored = [p for p in within if p["relative_harm"] is not None]
    if scored:
        best = min(scored, key=lambda p: p["relative_harm"])
        why = f"lowest mean harm relative to the baseline within {budget:g} points of its accuracy"
    elif within:
        best = max(within, key=lambda p: p["metrics"]["eval.accuracy"])
        why = "the baseline shows none of the harms, so none can be reduced: the most accurate candidate"
    else:
        best = max(points, key=lambda p: p["metrics"]["eval.accuracy"])
        why = f"no candidate within {budget:g} points of the baseline's accuracy: the most accurate one"
    return {"value": best["value"], "rule": why}


def run_sweep(
    parent: RunDir,
    pcfg: FairtuneConfig,
    kind: str,
    method: str,
    key: str,
    values: list[float],
    make_config: Callable[[float | None], FairtuneConfig],
    *,
    folder: Path,
    share: float,
    harms: list[str],
    train_and_audit: Callable[[FairtuneConfig], Path],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Train and audit the baseline and every candidate on the split; write and return sweep.json.
    `make_config(None)` is the parent's recipe, `make_config(v)` the mitigation with `key` = v. Every
    candidate's config is built (and so validated) before anything is trained."""
    from fairtune.config import config_to_dict
    from fairtune.errors import SWEEP_NO_EFFECT, FairtuneError
    from fairtune.report import collect_metrics

    recipes = {"baseline": make_config(None), **{point_name(key, v): make_config(v) for v in values}}
    candidates = [config_to_dict(recipes[point_name(key, v)])["train"] for v in values]
    if all(c == candidates[0] for c in candidates):
        raise FairtuneError(SWEEP_NO_EFFECT.format(key=key, kind=kind, method=method))
    log(f"mitigate: sweep of {key} over {values} on a {share:g} validation split of the training data")
    files = split_files(parent, pcfg, folder, share)
    measured: dict[str, dict[str, float]] = {}
    for name, cfg in recipes.items():
        root = train_and_audit(on_split(cfg, folder, files, name))
        measured[name] = {k: float(v) for k, v in collect_metrics(root).items() if isinstance(v, int | float)}
    points: list[dict[str, Any]] = [{"value": v, "run": str(folder / point_name(key, v))} for v in values]
    for p in points:
        got = measured[point_name(key, p["value"])]
        p["metrics"] = {m: got[m] for m in ["eval.accuracy", *harms] if m in got}
    baseline = {m: measured["baseline"][m] for m in ["eval.accuracy", *harms] if m in measured["baseline"]}
    harms = [m for m in harms if m in baseline]  # those this data lets the auditor measure
    chosen = choose(points, baseline, harms, ACCURACY_BUDGET[kind])
    doc = {
        "schema": "fairtune/sweep/v1",
        "key": key,
        "values": values,
        "validation_share": share,
        "rows": files["rows"],
        "files": {"train": files["train"], "validation": files["validation"]},
        "accuracy_budget_points": ACCURACY_BUDGET[kind],
        "harms": harms,
        "baseline": {"run": str(folder / "baseline"), "metrics": baseline},
        "points": points,
        "chosen": chosen["value"],
        "rule": chosen["rule"],
    }
    atomic_write_json(folder / "sweep.json", doc)
    log(f"mitigate: sweep chose {key}={chosen['value']:g} ({chosen['rule']})")
    return doc
