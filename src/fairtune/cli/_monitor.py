"""fairtune monitor RUN_DIR --data FILE [--labels] [monitor.KEY=VALUE ...] [--gates FILE] [--out DIR] [--json]

The run, the file, its columns, the window size, the labels and the gates are checked before torch loads.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from fairtune.cli._common import console, require_file

GATE_FAILED_EXIT = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a trained run directory, e.g. runs/sst2-minilm")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="monitor settings for this call only, e.g. monitor.alpha=0.01 (config.yaml is not changed)",
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="the new texts: .csv, .tsv, .jsonl, .parquet (a text column) or .txt (one text per line)",
    )
    p.add_argument(
        "--labels",
        action="store_true",
        help="the file has a label column: also measure accuracy, macro-F1 and ECE on the new texts",
    )
    p.add_argument("--text-column", help="column with the text (default: the run's data.text_column)")
    p.add_argument("--label-column", help="column with the label (default: the run's data.label_column)")
    p.add_argument(
        "--gates",
        metavar="FILE",
        help="YAML or JSON drift gates, e.g. {drift.flagged: {max: 0}}, added to the run's drift.* gates",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where to write <UTC time>.json and the cached reference.npz (default: RUN_DIR/monitor)",
    )
    p.add_argument("--json", action="store_true", help="print the drift document as JSON")


def _gates(path: str | None) -> Any:
    if path is None:
        return None
    from fairtune.config import read_yaml

    require_file("--gates", path)
    return read_yaml(path)


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def print_drift(doc: dict[str, Any]) -> None:
    """The drift document as tables, then its reading."""
    from rich.table import Table

    from fairtune.monitor import p_text

    out = console()
    inp, pred, m = doc["input"], doc["prediction"], doc["metrics"]
    ref = doc["reference"]
    t = Table(
        title=f"drift: {doc['n']} new texts ({doc['data']}) vs {ref['n']} reference texts ({ref['source']})"
    )
    for col in ("what", "new", "reference", "test", "p-value"):
        t.add_column(col, justify="left" if col in ("what", "test") else "right")
    mmd = inp["mmd"]
    t.add_row(
        "embeddings (MMD²)",
        _num(mmd["mmd"], ".5f"),
        "",
        f"kernel two-sample, {mmd['permutations']} permutations",
        p_text(mmd["p_value"], mmd["permutations"]),
    )
    length = inp["length"]
    t.add_row(
        "length (tokens, mean)",
        _num(length["new_mean"], ".1f"),
        _num(length["reference_mean"], ".1f"),
        f"KS {length['ks']:.3f}",
        p_text(length["p_value"]),
    )
    vocab = inp["vocabulary"]
    t.add_row(
        "words not in training",
        _num(vocab["oov_rate"], ".1%"),
        _num(vocab["reference_oov_rate"], ".1%"),
        "",
        "",
    )
    t.add_row(
        "[UNK] tokens", _num(vocab["unk_rate"], ".2%"), _num(vocab["reference_unk_rate"], ".2%"), "", ""
    )
    for dim, v in inp["identity"].items():
        t.add_row(
            f"mentions {dim.replace('_', ' ')}",
            _num(v["new_share"], ".1%"),
            _num(v["reference_share"], ".1%"),
            "chi-square",
            p_text(v["p_value"]),
        )
    for name, v in pred["labels"].items():
        t.add_row(f"predicted {name}", _num(v["new_share"], ".1%"), _num(v["reference_share"], ".1%"), "", "")
    t.add_row(
        "predicted labels", "", "", f"total variation {pred['tv']:.3f}, chi-square", p_text(pred["p_value"])
    )
    conf = pred["confidence"]
    t.add_row(
        "confidence (mean top p)",
        _num(conf["new_mean"]),
        _num(conf["reference_mean"]),
        f"KS {conf['ks']:.3f}",
        p_text(conf["p_value"]),
    )
    perf = doc["performance"]
    if perf is not None:
        for key in ("accuracy", "macro_f1", "ece"):
            t.add_row(
                key.replace("_", "-"), _num(perf[key]), _num(perf["run_eval"].get(key)), "run's eval", ""
            )
    out.print(t)
    verdict = "[red]drift[/red]" if m["flagged"] else "[green]no drift detected[/green]"
    out.print(f"{verdict}: " + " ".join(doc["reading"]))
    gates = doc["gates"]["gates"]
    if gates:
        g = Table(title="drift gates")
        for col in ("metric", "value", "bound", "status"):
            g.add_column(col, justify="left" if col in ("metric", "status") else "right")
        for row in gates:
            bound = " ".join(f"{k} {row[k]}" for k in ("min", "max") if k in row)
            g.add_row(row["metric"], _num(row["value"], ".4g"), bound, row["status"])
        out.print(g)


def run(args: argparse.Namespace) -> int:
    from fairtune.cli._common import loading, require_run

    require_run(args.run_dir)
    gates = _gates(args.gates)
    from fairtune.workflows.monitor import monitor

    with loading(f"the model of {args.run_dir}"):
        doc = monitor(
            args.run_dir,
            args.data,
            labels=args.labels,
            text_column=args.text_column,
            label_column=args.label_column,
            out=args.out,
            overrides=args.overrides,
            gates=gates,
            gates_from=f"--gates {args.gates}",
        )
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_drift(doc)
        ref = doc["reference"]
        how = "reused from" if ref["cached"] else "profiled and cached in"
        console().print(f"monitor: {doc['path']} (reference {how} {ref['file']})")
    if not doc["gates"]["passed"]:
        from fairtune.report import describe_failure

        for g in doc["gates"]["gates"]:
            if not g["passed"]:
                console(stderr=True).print(f"[red]gate failed[/red]: {describe_failure(g)}")
        return GATE_FAILED_EXIT
    return 0
