"""fairtune compare RUN_A RUN_B ..."""

from __future__ import annotations

import argparse
import json

from fairtune.cli._common import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", help="run directories to put side by side")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from fairtune.cli._common import require_run

    for run_dir in args.run_dirs:
        require_run(run_dir, model=False)

    from fairtune.workflows.compare import compare

    result = compare(args.run_dirs)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    table = Table(title="runs side by side")
    table.add_column("metric")
    for d in args.run_dirs:
        table.add_column(d, justify="right")
    for name in result["metrics"]:
        vals = [result["runs"][d]["metrics"].get(name) for d in args.run_dirs]
        table.add_row(name, *("–" if v is None else f"{v:.4f}" for v in vals))
    gate_row = []
    for d in args.run_dirs:
        g = result["runs"][d]["gates"]
        gate_row.append(
            "–" if g is None else ("pass" if g["passed"] else "[red]FAIL[/red]")
        )  # any gate failed
    table.add_row("gates", *gate_row)
    console().print(table)
    for name, codes in result["auditors_differ"].items():
        versions = ", ".join(f"{d}: {c or 'unrecorded'}" for d, c in codes.items())
        console(stderr=True).print(
            f"[yellow]warning:[/yellow] audit/{name}.json was written by different versions of the {name} "
            f"auditor in these runs ({versions}), "
            f"so its numbers may not measure the same thing. Audit each again with this version: "
            f"fairtune audit RUN_DIR --only {name}"
        )
    return 0
