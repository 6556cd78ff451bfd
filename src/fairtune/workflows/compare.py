"""`fairtune compare`: metrics and gates of several runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairtune._io import read_json
from fairtune._rundir import RunDir
from fairtune._stages import register_stage


def compare(run_dirs: list[str]) -> dict[str, Any]:
    """Every run's metrics and gates; `auditors_differ` names the auditors whose documents in these runs
    were written by different versions of the auditor (their numbers may measure other things)."""
    from fairtune.report import collect_metrics

    runs: dict[str, Any] = {}
    for d in run_dirs:
        run = RunDir(Path(d)).require()
        runs[d] = {
            "metrics": collect_metrics(run.root),
            "gates": read_json(run.gates) if run.gates.is_file() else None,
        }
    names = sorted({m for r in runs.values() for m in r["metrics"]})
    return {"runs": runs, "metrics": names, "auditors_differ": auditor_versions(run_dirs)}


def auditor_versions(run_dirs: list[str]) -> dict[str, dict[str, str | None]]:
    """{auditor: {run: code digest, None where the document records none}} for every auditor whose
    documents in `run_dirs` do not all come from one version of its code."""
    seen: dict[str, dict[str, str | None]] = {}
    for d in run_dirs:
        for path in sorted((Path(d) / "audit").glob("*.json")):
            code = (read_json(path).get("provenance") or {}).get("code")
            seen.setdefault(path.stem, {})[d] = code
    return {name: codes for name, codes in seen.items() if len(set(codes.values())) > 1}


register_stage("compare", compare)
