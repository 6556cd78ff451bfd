"""The main job, timed: `fairtune run configs/sst2-minilm.yaml` from nothing (data card -> train ->
evaluate -> the four audits -> report), with each stage's and each auditor's share.

Run from the project root, with nothing else running (about 15 minutes on 2 AVX-512 cores, about 20 on
2 AVX2-only cores):

    .venv/bin/python bench/main_job.py [--output-dir runs/main-job]

The run goes to OUTPUT_DIR (emptied first, so every stage runs); the shipped config is otherwise used
as it is. Stage seconds come from the run's stages.json (written by `fairtune run` itself), each
auditor's from its audit/<name>.json; the wall time is the whole process, imports included.

Results: bench/results/<host-class>/main_job.json:
{"seconds", "stages": {stage: seconds}, "dev_accuracy", "audits": {auditor: seconds}, "findings": ...}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, fairtune, write_results

CONFIG = "configs/sst2-minilm.yaml"


def audit_summary(run: Path) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """Each auditor's own seconds and its findings by severity."""
    seconds: dict[str, float] = {}
    findings: dict[str, dict[str, int]] = {}
    for path in sorted((run / "audit").glob("*.json")):
        doc = json.loads(path.read_text())
        seconds[path.stem] = float(doc.get("seconds") or 0.0)
        counts: dict[str, int] = {}
        for f in doc.get("findings", []):
            counts[f.get("severity", "info")] = counts.get(f.get("severity", "info"), 0) + 1
        findings[path.stem] = counts
    return seconds, findings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output-dir", default="runs/main-job", help="where the timed run goes (emptied)")
    args = ap.parse_args()
    from fairtune.config import load_config

    name = load_config(ROOT / CONFIG).name
    out_dir = ROOT / args.output_dir
    run = out_dir / name
    if run.exists():
        shutil.rmtree(run)
    wall = fairtune("run", CONFIG, f"output_dir={args.output_dir}")
    stages = json.loads((run / "stages.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    audits, findings = audit_summary(run)
    stage_seconds = {k: v["seconds"] for k, v in stages.items() if isinstance(v, dict) and "seconds" in v}
    doc: dict[str, Any] = {
        "seconds": wall,
        "stages": stage_seconds,
        "stage_share": {k: v / sum(stage_seconds.values()) for k, v in stage_seconds.items()},
        "dev_accuracy": metrics.get("eval.accuracy", metrics.get("eval", {}).get("accuracy")),
        "audits": audits,
        "findings": findings,
        "config": CONFIG,
        "command": ".venv/bin/python bench/main_job.py " + " ".join(sys.argv[1:]),
    }
    path = write_results("main_job", doc)
    print(json.dumps({k: doc[k] for k in ("seconds", "stages", "dev_accuracy", "audits")}, indent=2))
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
