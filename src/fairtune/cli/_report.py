"""fairtune report RUN_DIR"""

from __future__ import annotations

import argparse

from fairtune.cli._common import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory, e.g. runs/sst2-minilm")


def run(args: argparse.Namespace) -> int:
    from fairtune.report import describe_failure
    from fairtune.workflows.report import report

    gates = report(args.run_dir)
    out = console()
    out.print(f"wrote {args.run_dir}/report.html, report.md, summary.json, gates.json, model/README.md")
    for g in gates["gates"]:
        out.print(
            ("[green]pass[/green] " + g["metric"])
            if g["passed"]
            else f"[red]FAIL[/red] {describe_failure(g)}"
        )
    return 0
