"""fairtune compress RUN_DIR [--bf16] [--int8] [--onnx]
[--prune 0.3 --prune-method magnitude|heads|ffn|layers] [--source VARIANT]"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fairtune.cli._common import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a trained run directory, e.g. runs/sst2-minilm")
    p.add_argument("--bf16", action="store_true", help="bf16 weights (half the size)")
    p.add_argument("--int8", action="store_true", help="PyTorch dynamic int8 quantization of Linear layers")
    p.add_argument(
        "--onnx",
        action="store_true",
        help="ONNX export fused by ONNX Runtime, plus its dynamic int8 and static int8 (calibrated) versions",
    )
    p.add_argument("--prune", type=float, metavar="SHARE", help="prune this share of weights, e.g. 0.3")
    p.add_argument(
        "--prune-method",
        default="magnitude",
        help="magnitude (global L1, unstructured), heads (whole attention heads), ffn (FFN neurons) or "
        "layers (whole encoder layers, the top ones: --prune 0.34 drops 2 of 6)",
    )
    p.add_argument(
        "--recover-steps",
        type=int,
        default=100,
        help="fine-tune steps after pruning, with the run's recipe (0 to skip; default 100)",
    )
    p.add_argument(
        "--distill-weight",
        type=float,
        default=0.0,
        help="recovery loss: (1 - w) * cross-entropy on the labels + w * distillation from the model "
        "before pruning (Hinton et al. 2015, temperature 2); default 0, the labels alone: distillation "
        "did not help SST-2 FFN pruning (README)",
    )
    p.add_argument(
        "--source",
        metavar="VARIANT",
        help="build from this float32 variant of the run instead of its model, to stack compressions: "
        "e.g. --prune 0.5 --prune-method ffn first, then --onnx --source pruned-ffn-50 builds "
        "pruned-ffn-50+onnx-int8 and the others",
    )
    p.add_argument(
        "--audit",
        action="append",
        metavar="NAME",
        help="re-audit each variant with this auditor (repeatable; default: the run's enabled fairness, "
        "robustness and privacy audits)",
    )
    p.add_argument("--no-audit", action="store_true", help="measure only; do not re-audit the variants")
    p.add_argument("--json", action="store_true", help="print compress/summary.json")


def print_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    t = Table(title="compressed variants (parent: fp32)")
    cols = (
        "variant",
        "size MB",
        "p50 ms",
        "p95 ms",
        "texts/s",
        "speed-up",
        "peak MB",
        "accuracy",
        "Δ acc",
        "ECE",
    )
    for col in cols:
        t.add_column(col, justify="left" if col == "variant" else "right")

    def row(name: str, m: dict[str, Any]) -> None:
        peak = m.get("peak_memory_mb")
        t.add_row(
            name,
            f"{m['size_mb']:.1f}",
            f"{m['latency_p50_ms']:.1f}",
            f"{m['latency_p95_ms']:.1f}",
            f"{m['throughput']:.0f}",
            f"{m.get('speedup', 1.0):.2f}x",
            f"{peak:.0f}" if peak is not None else "-",
            f"{m['accuracy']:.4f}",
            f"{m.get('accuracy_delta', 0.0):+.4f}",
            f"{m['ece']:.4f}",
        )

    row("fp32 (parent)", summary["parent"])
    for name, m in summary["variants"].items():
        row(name, m)
    out.print(t)
    worse = [
        f"{name}: {auditor}.{metric} {r['parent']:.4f} -> {r['variant']:.4f}"
        for name, m in summary["variants"].items()
        for auditor, rows in m.get("audits", {}).items()
        for metric, r in rows.items()
        if r["worse"] and abs(r["delta"]) >= 0.01
    ]
    if worse:
        out.print("[yellow]audit metrics that moved the wrong way by 0.01 or more:[/yellow]")
        for line in worse:
            out.print(f"  {line}")


def run(args: argparse.Namespace) -> int:
    from fairtune.cli._common import require_run

    require_run(args.run_dir, data=True)
    from fairtune.compress import PruneSpec
    from fairtune.workflows.compress import compress, requested_variants

    prune = None
    if args.prune is not None:
        prune = PruneSpec(
            amount=args.prune,
            method=args.prune_method,
            recover_steps=args.recover_steps,
            distill_weight=args.distill_weight,
        )
    names = requested_variants(
        bf16=args.bf16, int8=args.int8, onnx=args.onnx, prune=prune, source=args.source
    )
    audits = [] if args.no_audit else args.audit
    summary = compress(
        args.run_dir,
        names,
        prune=prune,
        source=args.source,
        audits=audits,
        log=lambda m: print(m, file=sys.stderr, flush=True),
        show_progress=sys.stderr.isatty(),
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    return 0
