"""What every auditor returns, and how it lands in the run directory (audit/<name>.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fairtune._io import atomic_write_json
from fairtune.data import LabelledData
from fairtune.errors import AUDIT_EMPTY_EVAL, DataError

Severity = Literal["info", "warning", "fail"]


@dataclass
class AuditResult:
    """metrics: gate-able numbers; findings: what a reviewer should read; details: the full tables."""

    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: what wrote the document (audits/_provenance.py), set by the audit workflow
    provenance: dict[str, str] | None = None

    def finding(self, severity: Severity, message: str, **extra: Any) -> None:
        self.findings.append({"severity": severity, "message": message, **extra})

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "fairtune/audit/v1",
            "auditor": self.name,
            "metrics": self.metrics,
            "findings": self.findings,
            "examples": self.examples,
            "details": self.details,
            "seconds": round(self.seconds, 3),
            **({"provenance": self.provenance} if self.provenance else {}),
        }

    def write(self, run_root: Path) -> Path:
        path = run_root / "audit" / f"{self.name}.json"
        atomic_write_json(path, self.to_json())
        return path


def usable_eval(data: LabelledData, max_rows: int | None, auditor: str) -> tuple[LabelledData, list[int]]:
    """The eval rows an auditor works on (non-empty texts, the first `max_rows`), and their row numbers.
    Nothing left is an error naming what to check."""
    keep = [i for i, t in enumerate(data.texts) if t.strip()]
    if max_rows:
        keep = keep[:max_rows]
    if not keep:
        raise DataError(
            AUDIT_EMPTY_EVAL.format(
                what=f"audit.{auditor}", auditor=auditor, detail=f"{len(data)} rows, none with text left"
            )
        )
    return data.subset(keep), keep


def prediction_changes(
    p_orig: np.ndarray, p_new: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For pairs (original text idx[k], its modified copy k): the label predicted for the original,
    |Δp| of that label, and whether the prediction changed. The measure behind counterfactual flips
    and invariance failures alike."""
    label = p_orig[idx].argmax(axis=1)
    delta = np.abs(p_orig[idx, label] - p_new[np.arange(len(idx)), label])
    return label, delta, p_new.argmax(axis=1) != label


def sample_indices(n: int, size: int, seed: int) -> list[int]:
    """A fixed, seeded sample of rows: the same eval rows for a parent, its children and compressed
    variants (the attack sample, the explanation sample)."""
    return sorted(np.random.default_rng(seed).permutation(n)[: min(size, n)].tolist())
