"""fairtune validate CONFIG [KEY=VALUE ...]"""

from __future__ import annotations

import argparse

from fairtune.cli._common import add_config_args, console, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_args(p)


def run(args: argparse.Namespace) -> int:
    cfg = load(args)
    from fairtune.workflows.validate import validate

    summary = validate(cfg)
    out = console()
    out.print(f"[green]ok[/green]: {args.config} is valid")
    for key, value in summary.items():
        out.print(f"  {key}: {value}")
    return 0
