"""fairtune update RUN_DIR --data FILE [--replay 0.5] [...]: refresh a model with new data, gated."""

from __future__ import annotations

import argparse
from typing import Any

from fairtune.cli._common import console

BLOCKED_EXIT = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="the trained run to refresh, e.g. runs/sst2-minilm")
    p.add_argument("--data", required=True, metavar="FILE", help="new labelled texts, in the run's label set")
    p.add_argument(
        "--replay", type=float, default=0.5, help="old training rows replayed per new row (default 0.5)"
    )
    p.add_argument(
        "--eval-fraction", type=float, default=0.2, help="share of the new rows held out to measure the gain"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="how much worse a metric may get, absolute (default 0.01)",
    )
    p.add_argument(
        "--relative-tolerance",
        type=float,
        default=0.05,
        help="... or relative to the parent's value, whichever is larger (default 0.05)",
    )
    p.add_argument("--name", help="the child's name under RUN_DIR/updates/ (default: update-<UTC time>)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the run's train.epochs)")
    p.add_argument(
        "--lr",
        type=float,
        help="peak learning rate of the refresh (default: the run's train.lr; a lower one forgets less)",
    )
    p.add_argument("--text-column", help="the new file's text column (default: the run's data.text_column)")
    p.add_argument(
        "--label-column", help="the new file's label column (default: the run's data.label_column)"
    )
    p.add_argument("--no-promote", action="store_true", help="compare only; never write RUN_DIR/current.json")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def print_update(doc: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title=f"update: {doc['child']} against the served {doc['compared_with']}")
    for col in ("metric", "parent", "child", "change", "allowed worse", "verdict"):
        t.add_column(
            col, justify="left" if col in ("metric", "verdict") else "right", no_wrap=col == "metric"
        )
    for r in doc["comparison"]:
        verdict = (
            "[red]blocks[/red]" if r["blocks"] else ("worse, within tolerance" if r["worse_by"] else "ok")
        )
        t.add_row(
            r["metric"],
            f"{r['parent']:.4f}",
            f"{r['child']:.4f}",
            f"{r['delta']:+.4f}",
            f"{r['allowed']:.4f}",
            verdict,
        )
    console().print(t)


def run(args: argparse.Namespace) -> int:
    from fairtune.cli._common import require_file, require_run

    require_run(args.run_dir, data=True)
    require_file("--data", args.data)
    from fairtune.workflows.update import check_settings

    check_settings(args.replay, args.eval_fraction, args.tolerance, args.relative_tolerance, args.lr)
    from fairtune.workflows.update import update

    out = console(stderr=True)
    doc = update(
        args.run_dir,
        args.data,
        replay=args.replay,
        eval_fraction=args.eval_fraction,
        tolerance=args.tolerance,
        relative=args.relative_tolerance,
        name=args.name,
        epochs=args.epochs,
        lr=args.lr,
        text_column=args.text_column,
        label_column=args.label_column,
        promote_child=not args.no_promote,
        show_progress=not args.no_progress,
        log=out.print,
    )
    print_update(doc)
    if doc["promoted"]:
        out.print(
            f"[green]promoted[/green]: {doc['child']} (RUN_DIR/current.json; a running serve reloads it)"
        )
        return 0
    why = "; ".join(doc["blocked_by"]) or "--no-promote"
    out.print(f"[yellow]not promoted[/yellow]: {why}")
    return BLOCKED_EXIT if doc["blocked_by"] else 0
