"""fairtune validate CONFIG [KEY=VALUE ...]"""

from __future__ import annotations

import argparse

from fairtune.cli._common import add_config_args, console, load


def data_problems(args: argparse.Namespace) -> list[str]:
    """The data section's own problems (files, columns, labels) when it is valid on its own."""
    from fairtune.config import DataConfig, EncryptionConfig, merge_raw, parse_overrides, read_yaml
    from fairtune.errors import FairtuneError

    try:
        raw = merge_raw(read_yaml(args.config), parse_overrides(args.overrides or []))
        data = DataConfig.model_validate(raw.get("data") or {})
        # a redaction cache written here follows encryption: too; without a usable key nothing is written
        enc = raw.get("encryption")
        encryption = EncryptionConfig.model_validate(enc) if enc is not None else None
    except Exception:  # a section itself is malformed: its schema problems are already listed
        return []
    from fairtune.data import load_task_data

    try:
        seed = int(raw.get("seed", 42)) if str(raw.get("seed", 42)).isdigit() else 42
        load_task_data(data, seed, encryption)
    except FairtuneError as exc:
        return list(exc.problems)
    return []


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_args(p)


def run(args: argparse.Namespace) -> int:
    from fairtune.errors import ConfigError

    try:
        cfg = load(args)
    except ConfigError as exc:  # the schema has problems: check the data section too, report all at once
        problems = [*exc.problems, *data_problems(args)]
        raise ConfigError(problems, header=f"{len(problems)} problem(s) found; nothing was run:") from None
    from fairtune.workflows.validate import validate

    summary = validate(cfg)
    out = console()
    out.print(f"[green]ok[/green]: {args.config} is valid")
    for key, value in summary.items():
        out.print(f"  {key}: {value}")
    return 0
