"""The counterfactual flip rate on more texts than SST-2's dev split has, for the parent and a fairness
child, over their seeds.

Run from the project root after bench/fairness.py (minutes on 2 cores: the models only predict):

    .venv/bin/python bench/counterfactual_flips.py [--child fairness-all-tp16-clp0.25]

The fairness audit swaps identity terms in the eval split's texts: SST-2's dev split has 153 texts with
a term, 369 swapped pairs, of which the parent flips 0 to 4 per seed, so a −50% change of the flip rate
is about one pair there. Here the same swaps (the audit's own function, lexicons and settings from each
run's config) run on unlabelled texts no run trained on: the sentence-level SST test split (in domain;
GLUE's SST-2 train has phrases of the SST train sentences only) and the customer reviews of Hu & Liu
(2004). Per run: the flip rate and the mean |Δp| over the pairs; then the mean over seeds with its 95%
interval, and child − parent with Welch's interval, as the mitigation benchmarks report them.
Results: bench/results/<host-class>/counterfactual_flips.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, seed_runs, write_results

RUN = ROOT / "runs" / "sst2-minilm"
DATA = ROOT.parent / "shared" / "data"
METRICS = ("flip_rate", "mean_abs_delta")


def texts() -> dict[str, list[str]]:
    """The unlabelled texts, by source."""
    import csv

    with open(DATA / "sst2_sentences" / "test.tsv", newline="") as f:
        sst = [row["sentence"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    cr = [
        line.strip()
        for name in ("custrev.pos", "custrev.neg")
        for line in (DATA / "cr" / name).read_text(encoding="latin-1").splitlines()
        if line.strip()
    ]
    return {"SST test sentences": sst, "customer reviews (CR)": cr}


def swaps(run: Path, sources: dict[str, list[str]]) -> dict[str, Any]:
    """The audit's counterfactual swaps of every source's texts under the run's model and settings."""
    from fairtune.audits.fairness._audit import counterfactual_swaps
    from fairtune.data import load_lexicons
    from fairtune.models._run import load_run_classifier

    _, cfg, clf = load_run_classifier(run)
    fa = cfg.audit.fairness
    lexicons = load_lexicons(fa.dimensions, fa.lexicon_dir, "audit.fairness")
    everything = [t for ts in sources.values() for t in ts]
    overall = counterfactual_swaps(clf, everything, lexicons, pronouns=fa.pronouns, worst=0)["overall"]
    return {k: overall[k] for k in ("texts", "texts_with_terms", "pairs", *METRICS)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", default="fairness-all-tp16-clp0.25")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    from fairtune.evaluation import compare_seeds

    sources = texts()
    sides = {
        "parent": seed_runs(RUN)[: args.seeds],
        "child": seed_runs(RUN / "mitigate" / args.child)[: args.seeds],
    }
    if any(len(runs) < args.seeds for runs in sides.values()):
        raise SystemExit(
            f"fewer than {args.seeds} seeds of the parent or {args.child}: run bench/fairness.py"
        )
    per_run = {side: [swaps(r, sources) for r in runs] for side, runs in sides.items()}
    for side, rows in per_run.items():
        for run, row in zip(sides[side], rows, strict=True):
            print(f"{side} {run.relative_to(ROOT)}: {row}", flush=True)
    doc: dict[str, Any] = {
        "child": args.child,
        "seeds": args.seeds,
        "sources": {name: len(ts) for name, ts in sources.items()},
        "pairs": per_run["parent"][0]["pairs"],
        "texts_with_terms": per_run["parent"][0]["texts_with_terms"],
        "runs": {side: [str(r.relative_to(ROOT)) for r in runs] for side, runs in sides.items()},
    }
    for metric in METRICS:
        parent, child = ([row[metric] for row in per_run[s]] for s in ("parent", "child"))
        doc[metric] = compare_seeds(child, parent, lower_is_better=True)
        print(metric, doc[metric]["diff"], flush=True)
    print("wrote", write_results("counterfactual_flips", doc))


if __name__ == "__main__":
    main()
