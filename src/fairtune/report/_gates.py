"""Gates: thresholds on metric names, checked against what the stages wrote to the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairtune._io import read_json
from fairtune._rundir import RunDir
from fairtune.config import FairtuneConfig


def collect_metrics(run_root: Path) -> dict[str, float]:
    """Every gate-able number in the run: eval.*, train.*, data.* and <auditor>.* (audit/<auditor>.json)."""
    out: dict[str, float] = {}
    run = RunDir(run_root)
    metrics_path = run.metrics
    if metrics_path.is_file():
        doc = read_json(metrics_path)
        for key in ("accuracy", "macro_f1", "ece", "loss"):
            if isinstance(doc.get("eval", {}).get(key), int | float):
                out[f"eval.{key}"] = float(doc["eval"][key])
        from fairtune.config import STAGE_METRICS

        for key in STAGE_METRICS["train"]:
            if isinstance(doc.get("train", {}).get(key), int | float):
                out[f"train.{key}"] = float(doc["train"][key])
    card = run.data_card
    if card.is_file():
        for key, value in read_json(card).get("metrics", {}).items():
            out[f"data.{key}"] = float(value)
    out.update(audit_metrics(run_root / "audit"))
    return out


def audit_metrics(folder: Path) -> dict[str, float]:
    """`<auditor>.<metric>` for every number in the audit documents of `folder` (audit/<auditor>.json)."""
    out: dict[str, float] = {}
    for audit in sorted(folder.glob("*.json")):
        for key, value in read_json(audit).get("metrics", {}).items():
            if isinstance(value, int | float):
                out[f"{audit.stem}.{key}"] = float(value)
    return out


NOT_RUN = "not run"


def check_gates(cfg: FairtuneConfig, values: dict[str, float]) -> dict[str, Any]:
    """The gates document: each gate with its value, bound, status (pass, fail, or "not run" when the stage
    or auditor that writes its metric has not run: that is no failure) and the margin it missed by."""
    rows = []
    for metric, gate in cfg.gates.items():
        value = values.get(metric)
        row: dict[str, Any] = {"metric": metric, "value": value}
        if gate.min is not None:
            row["min"] = gate.min
        if gate.max is not None:
            row["max"] = gate.max
        if value is None:
            row.update(status=NOT_RUN, passed=True)
            row["reason"] = "not measured yet: the stage or auditor that writes it has not run"
        else:
            low = gate.min is not None and value < gate.min
            high = gate.max is not None and value > gate.max
            row.update(status="fail" if low or high else "pass", passed=not (low or high))
            if low or high:  # rounded where float arithmetic leaves a tail (0.34, not 0.33999999999999997)
                miss = gate.min - value if low else value - gate.max  # type: ignore[operator]
                row["missed_by"] = round(float(miss), 12)
        rows.append(row)
    return {"schema": "fairtune/gates/v1", "passed": all(r["passed"] for r in rows), "gates": rows}


def gate_status(row: dict[str, Any]) -> str:
    """pass, FAIL or not run (gates.json files written before the status field: from passed and value)."""
    status = row.get("status") or (
        NOT_RUN if row.get("value") is None else "pass" if row["passed"] else "fail"
    )
    return "FAIL" if status == "fail" else status


def describe_failure(row: dict[str, Any]) -> str:
    if row.get("value") is None:
        return f"{row['metric']}: {row['reason']}"
    bound = f">= {row['min']}" if "min" in row and row["value"] < row["min"] else f"<= {row.get('max')}"
    return f"{row['metric']} = {row['value']:.4g}, needs {bound} (missed by {row['missed_by']:.4g})"


def variant_metrics(run_root: Path, variant: str, measured: dict[str, Any] | None = None) -> dict[str, float]:
    """What compressed variant `variant` measured, named as gates name them: `eval.accuracy`, `macro_f1`
    and `ece` from compress/<variant>/metrics.json (or `measured`) and its re-audits
    (compress/<variant>/audit/*.json). `data.*` and `train.*` are the run's; what the variant was not
    measured on (an auditor it was not re-audited by) is left out, so its gate reads "not run"."""
    vdir = run_root / "compress" / variant
    values = {k: v for k, v in collect_metrics(run_root).items() if k.partition(".")[0] in ("data", "train")}
    doc = measured if measured is not None else read_json(vdir / "metrics.json")
    values.update(
        {f"eval.{k}": float(doc[k]) for k in ("accuracy", "macro_f1", "ece") if _number(doc.get(k))}
    )
    values.update(audit_metrics(vdir / "audit"))
    return values


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def variant_gates(
    cfg: FairtuneConfig, run_root: Path, variant: str, measured: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The run's gates on the variant's own measurements, and `regressions`: the gates it fails that
    the fp32 model passes. A variant with regressions is not served unless asked (`serve
    --allow-gate-regressions`); a gate the fp32 model fails already is the model's, not the variant's."""
    parent = {g["metric"]: g for g in check_gates(cfg, collect_metrics(run_root))["gates"]}
    gates = check_gates(cfg, variant_metrics(run_root, variant, measured))
    gates["regressions"] = [
        g["metric"]
        for g in gates["gates"]
        if g["status"] == "fail" and parent[g["metric"]]["status"] != "fail"
    ]
    return gates
