"""fairtune run CONFIG [KEY=VALUE ...] [--force STAGE]"""

from __future__ import annotations

import argparse

from fairtune.cli._common import add_config_args, console, load

GATE_FAILED_EXIT = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument(
        "--force",
        action="append",
        default=[],
        metavar="STAGE",
        help="redo STAGE (data, train, evaluate, report) and every stage after it",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    cfg = load(args)
    from fairtune.report import describe_failure
    from fairtune.workflows.run import run_pipeline

    out = console()
    gates = run_pipeline(cfg, force=args.force, show_progress=not args.no_progress, log=out.print)
    run_dir = f"{cfg.output_dir}/{cfg.name}"
    out.print(f"report: {run_dir}/report.html  model card: {run_dir}/model/README.md")
    failed = [g for g in gates["gates"] if not g["passed"]]
    if failed:
        err = console(stderr=True)
        err.print(f"[red]{len(failed)} gate(s) failed:[/red]")
        for g in failed:
            err.print(f"  - {describe_failure(g)}")
        return GATE_FAILED_EXIT
    not_run = [g for g in gates["gates"] if g["value"] is None]
    for g in not_run:  # every stage ran, so the auditor that writes it is off
        out.print(f"[yellow]gate {g['metric']} not run[/yellow]: no enabled stage or auditor writes it")
    if len(not_run) < len(gates["gates"]):
        out.print(f"[green]all {len(gates['gates']) - len(not_run)} measured gate(s) passed[/green]")
    return 0
