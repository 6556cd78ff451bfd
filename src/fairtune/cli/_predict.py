"""fairtune predict RUN_DIR "text" ... [--file F [--column C]] [--json]"""

from __future__ import annotations

import argparse
import json

from fairtune.cli._common import console, loading, require_run, texts_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run directory, e.g. runs/sst2-minilm")
    p.add_argument("texts", nargs="*", help="texts to classify")
    p.add_argument("--file", help="a .txt file (one text a line) or a CSV/TSV/JSONL/Parquet file")
    p.add_argument("--column", help="column holding the texts in --file (default: 'text')")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")


def run(args: argparse.Namespace) -> int:
    from fairtune.errors import PREDICT_NO_TEXTS

    texts = texts_from_args(args, PREDICT_NO_TEXTS)
    require_run(args.run_dir)
    with loading(f"the model of {args.run_dir}"):
        from fairtune.workflows.predict import predict

        rows = predict(args.run_dir, texts)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=False)
    table.add_column("label")
    table.add_column("p", justify="right")
    table.add_column("text", overflow="fold")
    for row in rows:
        table.add_row(row["label"], f"{row['probability']:.3f}", escape(row["text"]))
    console().print(table)
    return 0
