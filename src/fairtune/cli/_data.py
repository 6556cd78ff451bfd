"""fairtune data CONFIG [KEY=VALUE ...]"""

from __future__ import annotations

import argparse

from fairtune.cli._common import add_config_args, console, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument(
        "--redact",
        action="store_true",
        help="find and replace PII first (data.redact=true; settings in data.pii); the card counts it",
    )


def run(args: argparse.Namespace) -> int:
    if args.redact:
        args.overrides = [*args.overrides, "data.redact=true"]
    cfg = load(args)
    from rich.table import Table

    from fairtune.workflows.data import data_card

    card = data_card(cfg)
    table = Table(title=f"data card: {cfg.output_dir}/{cfg.name}/data/card.json")
    for col in ("severity", "check", "finding"):
        table.add_column(col, overflow="fold")
    colors = {"error": "red", "warning": "yellow", "info": "dim"}
    for f in card["findings"]:
        table.add_row(f"[{colors[f['severity']]}]{f['severity']}[/]", f["check"], f["message"])
    out = console()
    out.print(f"rows: train {card['rows']['train']}, eval {card['rows']['eval']}")
    out.print(table)
    return 0
