"""Domain-adaptive continued pretraining (DAPT) of the packaged MiniLM on one Amazon domain, then fine-tuning
on 200 labelled reviews of that domain, against fine-tuning without DAPT; and the CrowS-Pairs score of the
DAPT model with and without counterfactually augmented pretraining text.

Run from the project root, with nothing else running:

    .venv/bin/python bench/dapt.py

Data: ../shared/data/amazon_multidomain/<domain>.jsonl (2,000 reviews). With seed 0 the reviews are split
once into 1,000 unlabelled texts for DAPT (labels dropped) and 1,000 for the task. For each of 3 seeds, 200
task reviews are drawn (stratified) for fine-tuning and the other 800 are the evaluation set, so no text the
model is evaluated on was seen in pretraining. Everything runs through fairtune's own commands
(`fairtune pretrain`, `fairtune train`, `fairtune audit --only mlm_bias`).

Results: bench/results/<host-class>/dapt.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, results_path, write_results

DATA = ROOT / ".." / "shared" / "data" / "amazon_multidomain"
CROWS = ROOT / ".." / "shared" / "data" / "crows_pairs" / "crows_pairs_anonymized.csv"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def finetune(
    work: Path, name: str, model: str, train: Path, ev: Path, seed: int, args: argparse.Namespace
) -> float:
    from fairtune.config import build_config
    from fairtune.workflows.train import train as train_run

    cfg = build_config(
        {
            "name": name,
            "output_dir": str(work / "runs"),
            "seed": seed,
            "data": {
                "train": str(train),
                "eval": str(ev),
                "label_names": ["negative", "positive"],
                "max_length": args.max_length,
            },
            "model": {"name": model},
            "train": {
                "epochs": args.epochs,
                "batch_size": 16,
                "lr": args.lr,
                "warmup_ratio": 0.1,
                "save_every": 10_000,
                "eval_every": 10_000,  # evaluate once, at the end
            },
        }
    )
    return float(train_run(cfg, show_progress=False)["eval"]["accuracy"])


def pretrain_model(
    work: Path, name: str, texts: Path, args: argparse.Namespace, counterfactual: bool
) -> dict[str, Any]:
    from fairtune.config import build_config
    from fairtune.workflows.pretrain import pretrain

    raw: dict[str, Any] = {
        "name": name,
        "output_dir": str(work / "runs"),
        "seed": 0,
        "model": {"name": "minilm"},
        "pretrain": {
            "data": str(texts),
            "max_length": args.max_length,
            "epochs": args.pretrain_epochs,
            "batch_size": 16,
            "lr": args.pretrain_lr,
            "save_every": 10_000,
        },
    }
    if counterfactual:
        raw["pretrain"]["counterfactual"] = {"method": "cda"}
    t0 = time.perf_counter()
    m = pretrain(build_config(raw), show_progress=sys.stderr.isatty())["pretrain"]
    return {
        **m,
        "wall_minutes": (time.perf_counter() - t0) / 60,
        "model": str(work / "runs" / name / "model"),
    }


def crows_comparison(
    work: Path, texts: Path, dapt: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """CrowS-Pairs score of the DAPT model against the same recipe on text plus identity-swapped copies."""
    from fairtune.workflows.audit import audit_mlm

    print("DAPT with counterfactually augmented text ...", flush=True)
    cda = pretrain_model(work, "dapt-cda", texts, args, counterfactual=True)
    crows: dict[str, Any] = {}
    for key, m in (("dapt", dapt), ("dapt_cda", cda)):
        doc = audit_mlm(
            m["model"], str(CROWS), max_pairs=args.crows_pairs, log=lambda s: print(s, flush=True)
        )
        d = doc["details"]
        crows[key] = {
            "stereotype_score": d["stereotype_score"],
            "ci95": d["ci95"],
            "by_type": {t: e["stereotype_score"] for t, e in d["bias_types"].items()},
        }
        print(f"  CrowS-Pairs {key}: {d['stereotype_score']:.3f} {d['ci95']}", flush=True)
    crows["change"] = crows["dapt_cda"]["stereotype_score"] - crows["dapt"]["stereotype_score"]
    crows["cda_copies_added"] = cda.get("counterfactual", {}).get("copies_added")
    crows["cda_pretrain_minutes"] = cda["wall_minutes"]
    crows["pairs_scored"] = args.crows_pairs or "all"
    crows["note"] = (
        "The packaged MiniLM has no trained MLM head, so it cannot be scored itself; both models here got a "
        "new head in the same DAPT recipe, one of them on text plus identity-swapped copies."
    )
    return crows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domain", default="books")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=200)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--epochs", type=float, default=6)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--pretrain-epochs", type=float, default=2)
    ap.add_argument("--pretrain-lr", type=float, default=1e-4)
    ap.add_argument("--skip-crows", action="store_true")
    ap.add_argument("--crows-pairs", type=int, default=None, help="score only the first N CrowS-Pairs pairs")
    ap.add_argument(
        "--dapt-run",
        type=Path,
        help="reuse a finished `fairtune pretrain` run of this recipe (its model/, metrics.json) instead of "
        "pretraining again",
    )
    ap.add_argument(
        "--crows-only",
        action="store_true",
        help="with --dapt-run: only the CrowS-Pairs comparison, added to the accuracy results already in "
        "--results",
    )
    ap.add_argument("--results", type=Path, help="default: bench/results/<host-class>/dapt.json")
    args = ap.parse_args()
    args.results = args.results or results_path("dapt")
    if args.crows_only and not (args.dapt_run and args.results.is_file()):
        ap.error("--crows-only needs --dapt-run and an existing --results file from a full run")

    rows = [
        json.loads(line) for line in (DATA / f"{args.domain}.jsonl").read_text().splitlines() if line.strip()
    ]
    order = np.random.default_rng(0).permutation(len(rows))
    unlabelled, task = [rows[i] for i in order[: len(rows) // 2]], [rows[i] for i in order[len(rows) // 2 :]]
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dapt-") as td:
        work = Path(td)
        texts = write_jsonl(work / "unlabelled.jsonl", [{"text": r["text"]} for r in unlabelled])
        if args.dapt_run:
            dapt = {
                **json.loads((args.dapt_run / "metrics.json").read_text())["pretrain"],
                "model": str(args.dapt_run / "model"),
                "reused": str(args.dapt_run),
            }
        else:
            print(f"DAPT: pretraining MiniLM on {len(unlabelled)} {args.domain} reviews ...", flush=True)
            dapt = pretrain_model(work, "dapt", texts, args, counterfactual=False)
        print(
            f"  {dapt['minutes']:.1f} min, perplexity {dapt['perplexity_before']:.1f} -> "
            f"{dapt['perplexity']:.1f}",
            flush=True,
        )
        if args.crows_only:
            result = json.loads(args.results.read_text())
            result["crows_pairs"] = crows_comparison(work, texts, dapt, args)
            write_results("dapt", result, path=args.results)
            print(f"CrowS-Pairs change with CDA: {result['crows_pairs']['change']:+.3f} -> {args.results}")
            return
        scores: dict[str, list[float]] = {"with_dapt": [], "without_dapt": []}
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed + 1)
            labels = np.array([r["label"] for r in task])
            pick = np.concatenate(
                [rng.choice(np.flatnonzero(labels == c), args.n_train // 2, replace=False) for c in (0, 1)]
            )
            rest = np.setdiff1d(np.arange(len(task)), pick)
            train = write_jsonl(work / f"train{seed}.jsonl", [task[i] for i in pick])
            ev = write_jsonl(work / f"eval{seed}.jsonl", [task[i] for i in rest])
            for key, model in (("without_dapt", "minilm"), ("with_dapt", dapt["model"])):
                acc = finetune(work, f"{key}-{seed}", model, train, ev, seed, args)
                scores[key].append(acc)
                print(f"  seed {seed} {key}: accuracy {acc:.4f} on {len(rest)} reviews", flush=True)
            partial = {k: {"mean": statistics.mean(v), "runs": v} for k, v in scores.items()}
            partial_path = args.results.with_name(args.results.stem + "_partial.json")
            write_results("dapt_partial", partial, path=partial_path)
        for key, vals in scores.items():
            result[key] = {
                "mean": statistics.mean(vals),
                "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                "runs": vals,
            }
        result["pretrain_minutes"] = dapt["minutes"]
        result["dapt_helps"] = result["with_dapt"]["mean"] > result["without_dapt"]["mean"]
        result["delta"] = result["with_dapt"]["mean"] - result["without_dapt"]["mean"]
        result["pretrain"] = {
            k: dapt[k]
            for k in ("perplexity_before", "perplexity", "steps", "train_texts", "eval_texts", "new_mlm_head")
        }
        if not args.skip_crows and CROWS.is_file():
            result["crows_pairs"] = crows_comparison(work, texts, dapt, args)
    result.update(
        {
            "domain": args.domain,
            "n_train": args.n_train,
            "eval_texts": len(task) - args.n_train,
            "unlabelled_texts": len(unlabelled),
            "seeds": args.seeds,
            "settings": {
                k: getattr(args, k) for k in ("max_length", "epochs", "lr", "pretrain_epochs", "pretrain_lr")
            },
        }
    )
    write_results("dapt", result, path=args.results)
    print(
        f"with DAPT {result['with_dapt']['mean']:.4f} ± {result['with_dapt']['std']:.4f}; without "
        f"{result['without_dapt']['mean']:.4f} ± {result['without_dapt']['std']:.4f}; DAPT took "
        f"{result['pretrain_minutes']:.1f} min -> {args.results}"
    )


if __name__ == "__main__":
    main()
