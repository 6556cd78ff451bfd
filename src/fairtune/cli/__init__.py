"""The `fairtune` command. One verb = one module; heavy imports happen inside each command."""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> (module, one-line help). Modules are imported only when their verb runs or --help lists them.
COMMANDS = {
    "run": (
        "fairtune.cli._run",
        "data -> train -> evaluate -> audit -> report, with gates (exit 3 when one fails)",
    ),
    "data": ("fairtune.cli._data", "write the data card (data/card.json) without training"),
    "train": ("fairtune.cli._train", "fine-tune a model from a config; writes runs/<name>/"),
    "pretrain": (
        "fairtune.cli._pretrain",
        "continue pretraining the foundation model on unlabelled text (masked LM); writes runs/<name>/model",
    ),
    "evaluate": ("fairtune.cli._evaluate", "evaluate a trained run (accuracy, F1, calibration)"),
    "predict": ("fairtune.cli._predict", "predict labels for texts with a trained run"),
    "validate": ("fairtune.cli._validate", "check a config and its data without training"),
    "explain": (
        "fairtune.cli._explain",
        "show which words drove a prediction (--method ig|occlusion|shap), coloured in the terminal",
    ),
    "audit": (
        "fairtune.cli._audit",
        "assess a trained run: fairness, robustness, explain, privacy (writes audit/<name>.json)",
    ),
    "mitigate": (
        "fairtune.cli._mitigate",
        "train a child run with a mitigation (--fairness cda|clp|both, --robustness adv|augment|both) and "
        "re-audit it",
    ),
    "report": (
        "fairtune.cli._report",
        "write report.html, report.md, summary.json, gates and the model card",
    ),
    "compress": (
        "fairtune.cli._compress",
        "build smaller, faster variants (--bf16, --int8, --onnx, --prune 0.3), measure and re-audit each",
    ),
    "serve": (
        "fairtune.cli._serve",
        "serve a run (or one of its compressed variants) over HTTP: predict, explain, metrics, a web page",
    ),
    "compare": ("fairtune.cli._compare", "print metrics and gates of several runs side by side"),
    "monitor": (
        "fairtune.cli._monitor",
        "compare new texts with the run's data: input drift (MMD test on the model's embeddings), length, "
        "vocabulary, identity terms, predictions; accuracy with --labels; exit 3 when a drift gate fails",
    ),
    "update": (
        "fairtune.cli._update",
        "refresh a run's model with new labelled data under its gates; promote it when nothing got worse",
    ),
    "keygen": ("fairtune.cli._keygen", "print a new key for encryption at rest (the config's encryption:)"),
    "decrypt": ("fairtune.cli._decrypt", "print the plaintext of a file that a run wrote encrypted"),
}


def build_parser() -> argparse.ArgumentParser:
    from fairtune._version import __version__

    parser = argparse.ArgumentParser(
        prog="fairtune",
        description="Fine-tune text classifiers and ship them with evidence that they are fit to use.",
    )
    parser.add_argument("--version", action="version", version=f"fairtune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fairtune.errors import FairtuneError

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may come after flags (`train CONFIG --resume train.lr=1e-4`).
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except FairtuneError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["COMMANDS", "build_parser", "main"]
