"""fairtune audit RUN_DIR [audit.KEY=VALUE ...] [--only fairness] [--json]"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fairtune.cli import _audit_model
from fairtune.cli._common import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run_dir",
        nargs="?",
        help="a trained run directory, e.g. runs/sst2-minilm (--only mlm_bias: a run, model folder or name); "
        "or audit any model with --model/--endpoint and --data",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="change the run's audit settings first, e.g. audit.privacy.sample=500 (saved to its "
        "config.yaml; only audit.* keys)",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this auditor (repeatable): fairness, robustness, explain, privacy; or mlm_bias alone",
    )
    p.add_argument("--json", action="store_true", help="print the audit documents as JSON")
    p.add_argument("--crows", help="mlm_bias: the CrowS-Pairs file (crows_pairs_anonymized.csv)")
    p.add_argument("--max-pairs", type=int, help="mlm_bias: score only the first N pairs")
    p.add_argument("--output", help="mlm_bias on a model folder (not a run): also write the JSON here")
    _audit_model.add_arguments(p)


def print_findings(doc: dict[str, Any]) -> None:
    out = console()
    for f in doc["findings"]:
        colour = {"fail": "red", "warning": "yellow"}.get(f["severity"], "dim")
        out.print(f"[{colour}]{f['severity']}[/{colour}] {f['message']}")


def print_fairness(doc: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    d = doc["details"]
    cf = Table(title="counterfactual identity swaps on the eval data")
    for col in ("dimension", "texts", "pairs", "flip rate", "mean |Δp|", "p95 |Δp|"):
        cf.add_column(col, justify="left" if col == "dimension" else "right")
    for dim, e in d["counterfactual"]["dimensions"].items():
        if e["pairs"]:
            cf.add_row(
                dim,
                str(e["texts_swapped"]),
                str(e["pairs"]),
                f"{e['flip_rate']:.2%}",
                f"{e['mean_abs_delta']:.4f}",
                f"{e['p95_abs_delta']:.4f}",
            )
        else:
            cf.add_row(dim, "0", "0", "-", "-", "-")
    out.print(cf)
    tp = Table(title=f"template probes: mean p({d['positive_label']}) per group")
    for col in ("dimension", "spread", "permutation p", "groups"):
        tp.add_column(col, justify="left" if col in ("dimension", "groups") else "right")
    for dim, e in d["templates"]["dimensions"].items():
        groups = ", ".join(f"{g} {v:.3f}" for g, v in e["mean_positive"].items())
        tp.add_row(dim, f"{e['spread']:.4f}", f"{e['p_value']:.4f}", groups)
    out.print(tp)
    if "eec" in d:
        overlap = d["eec"]["lexicon_overlap"]["count"]
        ee = Table(title=f"EEC ({d['eec']['sentences']} sentences; EEC terms in the lexicons: {overlap})")
        for col in ("difference", "pairs", "mean", "95% CI", "t-test p", "mean |diff|", "|diff| > 0.01"):
            ee.add_column(col, justify="left" if col == "difference" else "right")
        for dim in ("gender", "race"):
            e = d["eec"].get(dim, {})
            if "mean_diff" in e:
                ee.add_row(
                    e["difference"],
                    str(e["pairs"]),
                    f"{e['mean_diff']:+.4f}",
                    f"[{e['ci95'][0]:+.4f}, {e['ci95'][1]:+.4f}]",
                    f"{e['p_value']:.3g}",
                    f"{e['mean_abs_diff']:.4f}",
                    f"{e['share_over_001']:.1%}",
                )
        out.print(ee)
    if "groups" in d:
        g = d["groups"]
        gt = Table(title=f"group metrics by {g['column']} (Fairlearn MetricFrame)")
        for col in ("group", "n", "accuracy", "95% CI", "selection rate"):
            gt.add_column(col, justify="left" if col == "group" else "right")
        for name, e in g["per_group"].items():
            ci = e["accuracy_ci95"]
            gt.add_row(
                name,
                str(e["n"]),
                f"{e['accuracy']:.4f}",
                f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "(too few rows)",
                f"{e['selection_rate']:.4f}",
            )
        out.print(gt)
        dp_lo, dp_hi = g["demographic_parity_difference_ci95"]
        eo_lo, eo_hi = g["equalized_odds_difference_ci95"]
        out.print(
            f"demographic parity difference {g['demographic_parity_difference']:.4f} "
            f"[{dp_lo:.4f}, {dp_hi:.4f}]; equalized odds difference "
            f"{g['equalized_odds_difference']:.4f} [{eo_lo:.4f}, {eo_hi:.4f}]"
        )
    print_findings(doc)


def print_robustness(doc: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    d = doc["details"]
    if "invariance" in d:
        t = Table(title="invariance tests (CheckList INV) on the eval data")
        for col in ("perturbation", "texts", "failure rate", "mean |Δp|"):
            t.add_column(col, justify="left" if col == "perturbation" else "right")
        for name, e in d["invariance"]["perturbations"].items():
            if e["applied"]:
                t.add_row(name, str(e["applied"]), f"{e['failure_rate']:.2%}", f"{e['mean_abs_delta']:.4f}")
            else:
                t.add_row(name, "0", "-", "-")
        out.print(t)
    if "attack" in d:
        a = d["attack"]
        t = Table(title=f"word-substitution attack on {a['n']} eval examples", show_header=False)
        for key in ("clean_accuracy", "accuracy_under_attack", "attack_success_rate", "words_changed_share"):
            t.add_row(key, "-" if a[key] is None else f"{a[key]:.2%}")
        t.add_row("attacked / succeeded", f"{a['attacked']} / {a['succeeded']}")
        t.add_row("skipped", ", ".join(f"{k} {v}" for k, v in a["skipped"].items()))
        t.add_row(
            "queries per example",
            "-" if a["queries_per_example"] is None else f"{a['queries_per_example']:.1f}",
        )
        t.add_row("seconds", f"{a['seconds']:.1f}")
        for k, v in a["constraints"].items():
            t.add_row(f"constraint: {k}", str(v))
        out.print(t)
    print_findings(doc)


def print_explain(doc: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    d = doc["details"]
    t = Table(
        title=f"faithfulness on {d['eval']['sample']} eval texts (ERASER AOPC over {len(d['bins'])} bins)"
    )
    for col in ("method", "comprehensiveness ↑", "sufficiency ↓", "vs random", "stability", "s / text"):
        t.add_column(col, justify="left" if col == "method" else "right")
    for m, e in d["methods"].items():
        ratio = e.get("comprehensiveness_ratio")
        t.add_row(
            m,
            f"{e['comprehensiveness']:.4f}",
            f"{e['sufficiency']:.4f}",
            f"{ratio:.2f}x" if ratio is not None else "-",
            f"{e['stability']:.3f}" if e.get("stability") is not None else "n/a",
            f"{e['seconds_per_explanation']:.3f}",
        )
    r = d["random"]
    t.add_row("random", f"{r['comprehensiveness']:.4f}", f"{r['sufficiency']:.4f}", "1.00x", "-", "-")
    out.print(t)
    g = d["global"]
    gt = Table(
        title=f"words that drive each label ({g['method']}, {g['texts']} texts, seen >= {g['min_count']}x)"
    )
    gt.add_column("label")
    gt.add_column("top words (mean score, count)", overflow="fold")
    for label, rows in g["per_class"].items():
        gt.add_row(label, ", ".join(f"{x['word']} {x['mean']:+.3f} ({x['count']})" for x in rows) or "-")
    out.print(gt)
    print_findings(doc)


def print_privacy(doc: dict[str, Any]) -> None:
    from rich.table import Table

    m = doc["details"]["membership"]
    t = Table(title=f"membership inference: {m['attack']}", show_header=False)
    t.add_row("members / non-members", f"{m['members']} / {m['nonmembers']}")
    t.add_row("AUC (0.5: cannot tell)", f"{m['auc']:.4f}")
    t.add_row("TPR at 1% / 0.1% FPR", f"{m['tpr_at_1pct_fpr']:.2%} / {m['tpr_at_01pct_fpr']:.2%}")
    t.add_row("advantage (max TPR - FPR)", f"{m['advantage']:.4f}")
    t.add_row(
        "mean loss: members / non-members", f"{m['member_mean_loss']:.4f} / {m['nonmember_mean_loss']:.4f}"
    )
    console().print(t)
    print_findings(doc)


def print_mlm_bias(doc: dict[str, Any]) -> None:
    from rich.table import Table

    d = doc["details"]
    t = Table(
        title=f"CrowS-Pairs: share of {d['pairs']} pairs where the more stereotyping sentence is preferred"
    )
    for col in ("bias type", "pairs", "score", "95% CI"):
        t.add_column(col, justify="left" if col == "bias type" else "right")
    t.add_row(
        "all", str(d["pairs"]), f"{d['stereotype_score']:.3f}", f"[{d['ci95'][0]:.3f}, {d['ci95'][1]:.3f}]"
    )
    for name, e in d["bias_types"].items():
        t.add_row(
            name, str(e["pairs"]), f"{e['stereotype_score']:.3f}", f"[{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}]"
        )
    console().print(t)
    print_findings(doc)


def printers() -> dict[str, Any]:
    """auditor -> how the terminal shows its document (tests/cli check every registered auditor has one)."""
    return {
        "fairness": print_fairness,
        "robustness": print_robustness,
        "explain": print_explain,
        "privacy": print_privacy,
        "mlm_bias": print_mlm_bias,
    }


def run(args: argparse.Namespace) -> int:
    from fairtune.cli._common import require_run
    from fairtune.errors import FairtuneError

    if args.run_dir and "=" in args.run_dir and not Path(args.run_dir).exists():
        args.overrides, args.run_dir = [args.run_dir, *args.overrides], None  # KEY=VALUE, no run
    if _audit_model.wants(args):
        return _audit_model.run(args, printers(), lambda m: console(stderr=True).print(m))
    if not args.run_dir:
        raise FairtuneError(
            "audit: what to audit? Give a run directory (fairtune audit runs/NAME), or --model PATH_OR_ID "
            "(or --endpoint URL) with --data FILE."
        )
    if not (args.only and "mlm_bias" in args.only):  # mlm_bias also takes a model folder or name
        require_run(args.run_dir, data=True)
    from fairtune.workflows.audit import audit, audit_mlm

    if args.only and "mlm_bias" in args.only:
        if len(args.only) > 1:
            raise FairtuneError(
                "--only mlm_bias: run it alone; it reads a masked LM, the other audits a classifier."
            )
        if args.overrides:
            raise FairtuneError(
                f"--only mlm_bias takes no KEY=VALUE settings (got {' '.join(args.overrides)}); use --crows "
                "and --max-pairs."
            )
        doc = audit_mlm(
            args.run_dir,
            args.crows,
            max_pairs=args.max_pairs,
            output=args.output,
            log=lambda m: console(stderr=True).print(m),
        )
        if args.json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
        else:
            print_mlm_bias(doc)
        return 0
    docs = audit(
        args.run_dir, args.only, log=lambda m: console(stderr=True).print(m), overrides=args.overrides
    )
    if args.json:
        print(json.dumps(docs, indent=2, ensure_ascii=False))
        return 0
    for name, doc in docs.items():
        printers()[name](doc)
    return 0
