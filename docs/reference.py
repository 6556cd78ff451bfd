"""The config and CLI reference pages, generated from the code so they cannot drift from it: the config
reference reads the pydantic schema's field descriptions, the CLI reference the argparse parser.

    .venv/bin/python docs/reference.py           # writes docs/reference/config.md and cli.md
    .venv/bin/python docs/reference.py --check   # exit 1 if they differ from what the code gives

`tests/test_docs.py` runs the check."""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return "null" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _sections(annotation: Any) -> list[type]:
    from pydantic import BaseModel

    found = [annotation, *typing.get_args(annotation)]
    return [a for a in found if isinstance(a, type) and issubclass(a, BaseModel)]


def _default(field: Any) -> str:
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "–"
        return "(section)" if isinstance(value, BaseModel) else f"`{value!r}`"
    if field.default is PydanticUndefined:
        return "required"
    return f"`{field.default!r}`"


def config_reference() -> str:
    from fairtune.config import FairtuneConfig

    lines = [
        "# Config reference",
        "",
        "Generated from the config schema (`src/fairtune/config/_schema.py`) when the docs are built.",
        "Keys are written as in YAML and in `key=value` overrides. `fairtune validate CONFIG` checks a",
        "config against this schema, and the data and model it names, without training.",
        "",
    ]
    todo: list[tuple[str, type]] = [("", FairtuneConfig)]
    seen: set[str] = set()
    while todo:
        prefix, model = todo.pop(0)
        if prefix in seen:
            continue
        seen.add(prefix)
        lines += [f"## `{prefix or '(top level)'}`", "", " ".join((model.__doc__ or "").split()), ""]
        lines += ["| key | type | default | what it does |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = f"{prefix}.{name}" if prefix else name
            desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |")
            todo += [(key, sub) for sub in _sections(field.annotation)]
        lines.append("")
    return "\n".join(lines)


def cli_reference() -> str:
    from fairtune.cli import COMMANDS, build_parser

    parser = build_parser()
    subs = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    lines = ["# CLI reference", "", "Generated from the command-line parser when the docs are built.", ""]
    for name in COMMANDS:
        sub = subs[name]
        # a fixed width, so the page is the same whatever terminal builds it
        sub.formatter_class = lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=100)
        lines += [f"## `fairtune {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


PAGES = {"config.md": config_reference, "cli.md": cli_reference}
OUT = Path(__file__).resolve().parent / "reference"


def pages() -> dict[Path, str]:
    return {OUT / name: make() + "\n" for name, make in PAGES.items()}


def main() -> int:
    import sys

    stale = [p for p, text in pages().items() if not p.is_file() or p.read_text() != text]
    if "--check" in sys.argv:
        for p in stale:
            print(f"out of date: {p} (run docs/reference.py)", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(exist_ok=True)
    for p, text in pages().items():
        p.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
