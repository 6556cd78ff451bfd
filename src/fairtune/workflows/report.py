"""`fairtune report`: gates, report.html/report.md/summary.json, and the model card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json
from fairtune._rundir import RunDir
from fairtune._stages import register_stage
from fairtune.errors import RUN_NOT_EVALUATED, RunError


def report(run_dir: str | Path) -> dict[str, Any]:
    """Write the report files and gates.json; return the gates document."""
    from fairtune.report import check_gates, collect_metrics, gather, write_model_card, write_report

    run = RunDir(Path(run_dir))
    run.require_model()
    cfg = run.load_config()
    if not run.metrics.is_file():
        raise RunError(RUN_NOT_EVALUATED.format(path=run.root))
    values = collect_metrics(run.root)
    gates = check_gates(cfg, values)
    atomic_write_json(run.gates, gates)
    ctx = gather(run.root, cfg, gates)
    write_report(run.root, ctx, values)
    write_model_card(run.model, cfg, ctx)
    return gates


register_stage("report", report)
