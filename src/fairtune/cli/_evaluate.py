"""fairtune evaluate RUN_DIR [--data FILE]"""

from __future__ import annotations

import argparse
import json
from typing import Any

from fairtune.cli._common import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory, e.g. runs/sst2-minilm")
    p.add_argument("--data", help="a labelled file to evaluate on instead of the run's eval split")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")


def print_metrics(m: dict[str, Any], title: str = "eval") -> None:
    from rich.table import Table

    out = console()
    head = Table(title=title, show_header=False)
    for key in ("n", "accuracy", "macro_f1", "ece", "loss"):
        if key in m:
            head.add_row(key, f"{m[key]:.4f}" if isinstance(m[key], float) else str(m[key]))
    out.print(head)
    per = Table(title="per class")
    for col in ("label", "precision", "recall", "f1", "support"):
        per.add_column(col, justify="right" if col != "label" else "left")
    for name, row in m["per_class"].items():
        per.add_row(
            name, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", str(row["support"])
        )
    out.print(per)
    cm = Table(title="confusion matrix (rows: true, columns: predicted)")
    cm.add_column("")
    for name in m["labels"]:
        cm.add_column(name, justify="right")
    for name, row in zip(m["labels"], m["confusion_matrix"], strict=True):
        cm.add_row(name, *map(str, row))
    out.print(cm)


def run(args: argparse.Namespace) -> int:
    from fairtune.cli._common import loading, require_run

    require_run(args.run_dir, data=True)
    with loading(f"the model of {args.run_dir}"):
        from fairtune.workflows.evaluate import evaluate

        result = evaluate(args.run_dir, args.data)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "reliability"}, indent=2))
    else:
        print_metrics(result, title=f"eval: {result['source']}")
    return 0
