"""`fairtune run`: data -> train -> evaluate -> audit -> report (+ gates), each stage skipped once done.

Stages communicate only through the run directory. `stages.json` records which have finished, so a
run killed at any point continues where it stopped; training itself resumes from its checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fairtune._io import atomic_write_json, read_json
from fairtune._rundir import RunDir
from fairtune._stages import STAGES, fingerprint, register_stage, stage
from fairtune.config import FairtuneConfig
from fairtune.errors import UNKNOWN_STAGE, FairtuneError


def _train_stage(cfg: FairtuneConfig, run: RunDir, forced: bool, show_progress: bool) -> None:
    from fairtune.training import latest_checkpoint

    if forced:
        run.clear_training_outputs()
    elif (run.model / "config.json").is_file() and run.metrics.is_file():
        return  # training had finished; only the stage record was lost
    resume = latest_checkpoint(run.checkpoints) is not None
    stage("train")(cfg, resume=resume, overwrite=not resume, show_progress=show_progress)


def _report_stage(cfg: FairtuneConfig, run: RunDir) -> None:
    """The report and gates; then the audits, gates and report go to the run's experiment trackers."""
    from fairtune.tracking import publish_run

    stage("report")(run.root)
    publish_run(cfg, run.root)


def _stage_fns(
    cfg: FairtuneConfig, run: RunDir, show_progress: bool, log: Callable[[str], None]
) -> dict[str, Callable[[bool], Any]]:
    return {
        "data": lambda forced: stage("data")(cfg),
        "train": lambda forced: _train_stage(cfg, run, forced, show_progress),
        "evaluate": lambda forced: stage("evaluate")(run.root),
        "audit": lambda forced: stage("audit")(run.root, log=log),
        "report": lambda forced: _report_stage(cfg, run),
    }


def _changed_since(name: str, cfg: FairtuneConfig, run: RunDir, record: dict[str, Any]) -> str | None:
    """Why a finished stage is stale: its config inputs changed, or (audit) a document of an enabled
    auditor was written by another version of it (an upgrade) or is missing; None if it is not."""
    if record.get("inputs") != fingerprint(cfg, name):
        return "its config inputs changed since it ran"
    if name != "audit":
        return None
    from fairtune.audits import describe_stale, enabled_auditors, stale_audits

    return describe_stale(stale_audits(run.root, enabled_auditors(cfg))) or None


def run_pipeline(
    cfg: FairtuneConfig,
    *,
    force: list[str] | None = None,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every stage not yet done; return the gates document (`passed` tells the exit code)."""
    force = force or []
    bad = [s for s in force if s not in STAGES]
    if bad:
        raise FairtuneError(UNKNOWN_STAGE.format(stage=bad[0], stages=", ".join(STAGES)))
    from fairtune.audits import audit_input_problems
    from fairtune.errors import ConfigError

    problems = audit_input_problems(cfg)  # a missing EEC file or WordNet stops before, not after, training
    if problems:
        raise ConfigError(problems, header=f"{len(problems)} problem(s) found; nothing was run:")
    run = RunDir.for_config(cfg)
    run.check_same_config(cfg)
    run.root.mkdir(parents=True, exist_ok=True)
    run.write_config(cfg)  # same identity (checked above); gates and card facts may be new
    done: dict[str, Any] = read_json(run.stages) if run.stages.is_file() else {}
    # A forced stage makes every later one stale, so they are redone too.
    first_forced = min((STAGES.index(s) for s in force), default=len(STAGES))
    fns = _stage_fns(cfg, run, show_progress, log)
    for i, name in enumerate(STAGES):
        record = done.get(name, {})
        changed = _changed_since(name, cfg, run, record) if record.get("done") else None
        if changed:
            log(f"{name}: {changed}; redoing it and every later stage")
            first_forced = min(first_forced, i)
        forced = i >= first_forced
        if record.get("done") and not forced:
            log(f"{name}: already done at {done[name]['finished']}; skipped (--force {name} redoes it)")
            continue
        log(f"{name}: running")
        t0 = time.perf_counter()
        fns[name](forced)
        done[name] = {
            "done": True,
            "inputs": fingerprint(cfg, name),
            "seconds": round(time.perf_counter() - t0, 3),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_json(
            run.stages, {"schema": "fairtune/stages/v1", **{k: v for k, v in done.items() if k in STAGES}}
        )
        log(f"{name}: done in {done[name]['seconds']:.1f}s")
    return read_json(run.gates)


register_stage("run", run_pipeline)
