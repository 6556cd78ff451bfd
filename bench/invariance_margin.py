"""Where the invariance failures of the SST-2 MiniLM run come from: how confident the model was in each
perturbed text's original prediction, for the parent and a robustness child, seed by seed.

    .venv/bin/python bench/invariance_margin.py [--child robustness-both-pertall]

For the parent's runs (runs/sst2-minilm and its seeds/seed-*) and the child's (runs/sst2-minilm/
mitigate/CHILD and its seeds), the audit's own invariance tests (`invariance` in the robustness audit,
with the run's settings: its eval texts, perturbations and seed) are run again, keeping every perturbed
pair: the probability of the originally predicted label and whether the prediction changed. The pairs
are binned by that confidence; per bin, the share of the pairs, their failure rate and the share of all
failures. Only seeds that both the parent and the child have are read.

Results: bench/results/<host-class>/invariance_margin.json.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, seed_runs, write_results

RUN = ROOT / "runs" / "sst2-minilm"
EDGES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def pairs(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """(confidence in the original prediction, prediction changed) for every perturbed pair of `run`."""
    from fairtune.audits._result import usable_eval
    from fairtune.audits.robustness._audit import ChosenPerturbations, invariance
    from fairtune.data import load_task_data, load_wordnet
    from fairtune.models import load_run_classifier

    _, cfg, clf = load_run_classifier(run)  # as `fairtune audit` loads it
    rob = cfg.audit.robustness
    task = load_task_data(cfg.data.model_copy(update={"label_names": clf.labels}), cfg.seed, cfg.encryption)
    texts = usable_eval(task.eval, rob.max_eval_rows, "robustness")[0].texts
    perturb = ChosenPerturbations(rob, load_wordnet(rob.wordnet, "audit.robustness.wordnet"))
    every = invariance(clf, texts, perturb, rob.seed, worst=10**9)
    rows = [w for entry in every.values() for w in entry.get("worst", [])]
    return np.array([w["p"] for w in rows]), np.array([w["failed"] for w in rows])


def bins(conf: np.ndarray, failed: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for lo, hi in itertools.pairwise(EDGES):
        inside = (conf >= lo) & ((conf < hi) | (hi == 1.0))
        out.append(
            {
                "confidence": [lo, hi],
                "pair_share": float(inside.mean()),
                "failure_rate": float(failed[inside].mean()) if inside.any() else None,
                "failure_share": float(failed[inside].sum() / max(failed.sum(), 1)),
            }
        )
    return out


def _mean(values: list[float | None]) -> float | None:
    """The mean of the values a bin has (a bin with no pair has no failure rate)."""
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def seeds_of(root: Path) -> dict[str, Path]:
    first, *others = seed_runs(root)
    return {"first": first, **{p.name: p for p in others if (p / "model").is_dir()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", default="robustness-both-pertall")
    args = ap.parse_args()
    parent, child = seeds_of(RUN), seeds_of(RUN / "mitigate" / args.child)
    shared = [s for s in parent if s in child]
    doc: dict[str, Any] = {"child": args.child, "seeds": shared, "edges": list(EDGES), "runs": {}}
    for who, runs in (("parent", parent), ("child", child)):
        per_seed = {}
        for s in shared:
            conf, failed = pairs(runs[s])
            per_seed[s] = {"pairs": len(conf), "failures": int(failed.sum()), "bins": bins(conf, failed)}
            print(f"{who} {s}: {int(failed.sum())} failures in {len(conf)} pairs", flush=True)
        mean = [
            {
                "confidence": [lo, hi],
                **{
                    key: _mean([per_seed[s]["bins"][k][key] for s in shared])
                    for key in ("pair_share", "failure_rate", "failure_share")
                },
            }
            for k, (lo, hi) in enumerate(itertools.pairwise(EDGES))
        ]
        doc["runs"][who] = {"per_seed": per_seed, "mean": mean}
    path = write_results("invariance_margin", doc)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
