"""fairtune report RUN_DIR"""

from __future__ import annotations

import argparse

from fairtune.cli._common import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory, e.g. runs/sst2-minilm")


GATE_FAILED_EXIT = 3


def run(args: argparse.Namespace) -> int:
    """Exit 3 when a gate that was measured fails, as `fairtune run` does; a gate whose stage has not run
    yet is listed as such and fails nothing."""
    from fairtune.cli._common import require_run

    require_run(args.run_dir, model=False, data=True)
    from fairtune.report import describe_failure, gate_status
    from fairtune.workflows.report import report

    gates = report(args.run_dir)
    out = console()
    out.print(f"wrote {args.run_dir}/report.html, report.md, summary.json, gates.json, model/README.md")
    for g in gates["gates"]:
        status = gate_status(g)
        if status == "pass":
            out.print("[green]pass[/green] " + g["metric"])
        elif status == "FAIL":
            out.print(f"[red]FAIL[/red] {describe_failure(g)}")
        else:
            out.print(f"[yellow]not run[/yellow] {g['metric']}: {g['reason']}")
    return 0 if gates["passed"] else GATE_FAILED_EXIT
