"""The counterfactual flip rate on more texts than SST-2's dev split has, for the parent and fairness
children, over their seeds.

Run from the project root after bench/fairness.py (minutes on 2 cores: the models only predict):

    .venv/bin/python bench/counterfactual_flips.py [--children fairness-all-tp16-clp0.25-tie-pron ...]

The fairness audit swaps identity terms in the eval split's texts: SST-2's dev split has 153 texts with
a term, 369 swapped pairs, of which the parent flips 0 to 4 per seed, so a −50% change of the flip rate
is about one pair there. Here the same swaps (the audit's own function, lexicons and settings from the
parent's config) run on unlabelled texts no run trained on: the sentence-level SST test split (in
domain; GLUE's SST-2 train has phrases of the SST train sentences only) and the customer reviews of Hu &
Liu (2004). Per run: the flip rate and the mean |Δp| over the pairs; then the mean over seeds with its
95% interval, and child − parent with Welch's interval, as the mitigation benchmarks report them. For a
child that ties terms (train.tie_terms), the same two over the pairs its ties do not make equal token
for token (`*_untied`, parent and child over the same pairs): what tying cannot settle by construction.
Children of an earlier run that are not named again are kept.
Results: bench/results/<host-class>/counterfactual_flips.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np

from _common import ROOT, read_results, seed_runs, write_results

RUN = ROOT / "runs" / "sst2-minilm"
DATA = ROOT.parent / "shared" / "data"


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


def tied_pairs(child: Path, texts: list[str], pairs: list[Any]) -> np.ndarray | None:
    """Which pairs the child's term tying (train.tie_terms) makes equal token for token, up to tied
    tokens: no model with those ties can score the two texts differently. None: the child ties nothing."""
    from fairtune.config import load_config
    from fairtune.models._run import load_run_classifier
    from fairtune.training.objectives._tying import configured_groups

    tc = load_config(child / "config.yaml").train.tie_terms
    if tc is None:
        return None
    tokenizer = load_run_classifier(child)[2].tokenizer
    groups, _ = configured_groups(tc, tokenizer)
    canon = {t: g[0] for g in groups for t in g}

    def ids(text: str) -> list[int]:
        return [canon.get(t, t) for t in tokenizer(text)["input_ids"]]

    return np.array([ids(texts[p[1]]) == ids(p[4]) for p in pairs], dtype=bool)


def changes(run: Path, texts: list[str], pairs: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of the audit's counterfactual swaps, under the run's model: whether the prediction flips,
    and |Δp| of the label predicted for the original."""
    from fairtune.audits._result import prediction_changes
    from fairtune.models._run import load_run_classifier

    clf = load_run_classifier(run)[2]
    used = sorted({p[1] for p in pairs})
    p_orig = np.zeros((len(texts), len(clf.labels)))
    p_orig[used] = clf.predict_proba([texts[i] for i in used])
    p_cf = clf.predict_proba([p[4] for p in pairs])
    _, delta, flips = prediction_changes(p_orig, p_cf, np.array([p[1] for p in pairs]))
    return flips, delta


def summary(flips: np.ndarray, delta: np.ndarray, tied: np.ndarray | None) -> dict[str, float]:
    """The flip rate and mean |Δp| over all pairs, and (given what tying makes equal) over the others."""
    out = {"flip_rate": float(flips.mean()), "mean_abs_delta": float(delta.mean())}
    if tied is not None:
        out |= {
            "flip_rate_untied": float(flips[~tied].mean()),
            "mean_abs_delta_untied": float(delta[~tied].mean()),
        }
    return out


def audit_pairs(run: Path, texts: list[str]) -> list[Any]:
    """The audit's swaps of `texts`, with the lexicons and settings of the run's fairness audit."""
    from fairtune.audits.fairness._audit import counterfactual_pairs
    from fairtune.config import load_config
    from fairtune.data import load_lexicons

    fa = load_config(run / "config.yaml").audit.fairness
    lexicons = load_lexicons(fa.dimensions, fa.lexicon_dir, "audit.fairness")
    return counterfactual_pairs(texts, lexicons, pronouns=fa.pronouns)


def compare_child(
    child: Path, runs: list[Path], texts: list[str], pairs: list[Any], parent: list[Any]
) -> dict:
    """One child's runs against the parent's (`parent`: per seed, its `changes`)."""
    from fairtune.evaluation import compare_seeds

    tied = tied_pairs(child, texts, pairs)
    rows = [summary(*changes(r, texts, pairs), tied) for r in runs]
    before = [summary(*c, tied) for c in parent]
    for run, row in zip(runs, rows, strict=True):
        print(f"child {run.relative_to(ROOT)}: {row}", flush=True)
    doc: dict[str, Any] = {
        "runs": [str(r.relative_to(ROOT)) for r in runs],
        "tied_pairs": int(tied.sum()) if tied is not None else 0,
    }
    for metric in rows[0]:
        values = ([r[metric] for r in side] for side in (rows, before))
        doc[metric] = compare_seeds(*values, lower_is_better=True)
        print(child.name, metric, doc[metric]["diff"], flush=True)
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--children", nargs="+", default=["fairness-all-tp16-clp0.25-tie-pron"])
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    everything = texts()
    all_texts = [t for ts in everything.values() for t in ts]
    parent_runs = seed_runs(RUN)[: args.seeds]
    children = {c: seed_runs(RUN / "mitigate" / c)[: args.seeds] for c in args.children}
    short = [c for c, runs in {"the parent": parent_runs, **children}.items() if len(runs) < args.seeds]
    if short:
        raise SystemExit(f"fewer than {args.seeds} seeds of {', '.join(short)}: run bench/fairness.py")
    pairs = audit_pairs(RUN, all_texts)
    parent = [changes(r, all_texts, pairs) for r in parent_runs]
    for run, per_pair in zip(parent_runs, parent, strict=True):
        print(f"parent {run.relative_to(ROOT)}: {summary(*per_pair, None)}", flush=True)
    doc: dict[str, Any] = {
        "seeds": args.seeds,
        "sources": {name: len(ts) for name, ts in everything.items()},
        "pairs": len(pairs),
        "texts_with_terms": len({p[1] for p in pairs}),
        "parent_runs": [str(r.relative_to(ROOT)) for r in parent_runs],
        "children": {
            c: compare_child(RUN / "mitigate" / c, runs, all_texts, pairs, parent)
            for c, runs in children.items()
        },
    }
    earlier = read_results("counterfactual_flips") or {}
    if earlier.get("pairs") == doc["pairs"] and earlier.get("seeds") == doc["seeds"]:
        doc["children"] = earlier.get("children", {}) | doc["children"]  # those not run again are kept
    print("wrote", write_results("counterfactual_flips", doc))


if __name__ == "__main__":
    main()
