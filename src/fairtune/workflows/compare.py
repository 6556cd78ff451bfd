"""`fairtune compare`: metrics and gates of several runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairtune._io import read_json
from fairtune._rundir import RunDir
from fairtune._stages import register_stage


def compare(run_dirs: list[str]) -> dict[str, Any]:
    from fairtune.report import collect_metrics

    runs: dict[str, Any] = {}
    for d in run_dirs:
        run = RunDir(Path(d)).require()
        runs[d] = {
            "metrics": collect_metrics(run.root),
            "gates": read_json(run.gates) if run.gates.is_file() else None,
        }
    names = sorted({m for r in runs.values() for m in r["metrics"]})
    return {"runs": runs, "metrics": names}


register_stage("compare", compare)
