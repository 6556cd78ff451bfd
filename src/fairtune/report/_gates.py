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
        from fairtune.config import KNOWN_METRICS

        for key in KNOWN_METRICS["train"]:
            if isinstance(doc.get("train", {}).get(key), int | float):
                out[f"train.{key}"] = float(doc["train"][key])
    card = run.data_card
    if card.is_file():
        for key, value in read_json(card).get("metrics", {}).items():
            out[f"data.{key}"] = float(value)
    for audit in sorted((run_root / "audit").glob("*.json")):
        for key, value in read_json(audit).get("metrics", {}).items():
            if isinstance(value, int | float):
                out[f"{audit.stem}.{key}"] = float(value)
    return out


def check_gates(cfg: FairtuneConfig, values: dict[str, float]) -> dict[str, Any]:
    """The gates document: each gate with its value, bound, pass/fail and the margin it missed by."""
    rows = []
    for metric, gate in cfg.gates.items():
        value = values.get(metric)
        row: dict[str, Any] = {"metric": metric, "value": value}
        passed = value is not None
        if gate.min is not None:
            row["min"] = gate.min
            passed = passed and value is not None and value >= gate.min
        if gate.max is not None:
            row["max"] = gate.max
            passed = passed and value is not None and value <= gate.max
        row["passed"] = bool(passed)
        if value is None:
            row["reason"] = "not measured: the stage or auditor that writes it has not run"
        elif not passed:
            miss = (
                (gate.min - value)
                if gate.min is not None and value < gate.min
                else (value - (gate.max or 0.0))
            )
            row["missed_by"] = float(miss)
        rows.append(row)
    return {"schema": "fairtune/gates/v1", "passed": all(r["passed"] for r in rows), "gates": rows}


def describe_failure(row: dict[str, Any]) -> str:
    if row.get("value") is None:
        return f"{row['metric']}: {row['reason']}"
    bound = f">= {row['min']}" if "min" in row and row["value"] < row["min"] else f"<= {row.get('max')}"
    return f"{row['metric']} = {row['value']:.4g}, needs {bound} (missed by {row['missed_by']:.4g})"
