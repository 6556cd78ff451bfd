"""A2T's word ranking, side by side: leave-one-out (one query per word, the audit's) against gradient (one
forward and backward pass per batch, as Yoo & Qi 2021), as `train.attack` runs them during training.

    .venv/bin/python bench/a2t_ranking.py [--texts 800] [--repeats 3]

The SST-2 MiniLM run's model (runs/sst2-minilm/model, trained first if missing) attacks `--texts` seeded
SST-2 training texts in batches of 4 (`train.attack.share` 0.125 of a batch of 32), with the training
attack's defaults (query budget 30, 8 candidates per word, 20% of the words, no similarity model) and
the training's precision (`auto`). Each repeat runs both rankings, in alternating order, each with a
fresh query cache. Recorded per ranking: seconds per batch, queries per attacked text, the share of
attacked texts the attack flipped, and the share it changed at all (the copies A2T trains on); and the
ratio gradient / leave-one-out of seconds per batch in each repeat. The load average is recorded, since
other benchmarks may share the cores.

Results: bench/results/<host-class>/a2t_ranking.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, trained_run, write_results

CONFIG = ROOT / "configs" / "sst2-minilm.yaml"
BATCH = 4  # texts attacked per training step at the default share (0.125 of 32)


def attack_all(attack: Any, texts: list[str], labels: np.ndarray, rank: Any) -> dict[str, float]:
    """Attack `texts` in batches of BATCH with a fresh cache, as training does; the totals."""
    from fairtune.audits.robustness._attack import CachedClassifier

    attack.clf = CachedClassifier(attack.clf.clf)
    attacked = succeeded = changed = queries = 0
    t0 = time.perf_counter()
    for k in range(0, len(texts), BATCH):
        examples, skipped = attack.attack(texts[k : k + BATCH], labels[k : k + BATCH], rank)
        live = [ex for ex in examples if ex.reason not in skipped]
        attacked += len(live)
        succeeded += sum(ex.success for ex in live)
        changed += sum(bool(ex.changed) for ex in live)
        queries += sum(ex.queries for ex in live)
    seconds = time.perf_counter() - t0
    return {
        "seconds_per_batch": seconds / -(-len(texts) // BATCH),
        "attacked": attacked,
        "success_rate": succeeded / max(attacked, 1),
        "changed_rate": changed / max(attacked, 1),
        "queries_per_attacked_text": queries / max(attacked, 1),
    }


def setup(n: int) -> tuple[Any, Any, list[str], np.ndarray]:
    """(attack, gradient ranker, texts, labels) on the run's model and `n` seeded training texts."""
    import torch

    from fairtune.audits.robustness import AttackSettings, WordSubstitutionAttack
    from fairtune.config import AttackTrainingConfig, load_config
    from fairtune.data import load_task_data, load_wordnet
    from fairtune.models import TorchClassifier
    from fairtune.models._build import load_trained
    from fairtune.training import resolve_precision
    from fairtune.training.objectives._ranking import gradient_ranker

    cfg = load_config(CONFIG)
    run = trained_run(CONFIG)
    model, tok = load_trained(run / "model")
    clf = TorchClassifier(model, tok, max_length=cfg.data.max_length, precision=cfg.train.precision)
    a2t = AttackTrainingConfig()
    settings = AttackSettings(
        max_change=a2t.max_change,
        min_similarity=None,
        query_budget=a2t.query_budget,
        max_candidates=a2t.max_candidates,
    )
    attack = WordSubstitutionAttack(clf, load_wordnet(a2t.wordnet, "train.attack.wordnet"), settings)
    grad = gradient_ranker(model, tok, cfg.data.max_length)
    bf16 = resolve_precision(cfg.train.precision, "cpu") == "bf16"

    def rank(live: list[Any]) -> None:  # as in training, inside its autocast
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            grad(live)

    train = load_task_data(cfg.data, cfg.seed).train
    pick = np.random.default_rng(0).choice(len(train.texts), size=n, replace=False)
    return attack, rank, [train.texts[i] for i in pick], train.labels[pick]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=800)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    attack, grad, texts, labels = setup(args.texts)
    attack_all(attack, texts[: 4 * BATCH], labels[: 4 * BATCH], None)  # warm-up
    rounds: list[dict[str, Any]] = []
    for r in range(args.repeats):
        order = ("leave_one_out", "gradient") if r % 2 == 0 else ("gradient", "leave_one_out")
        got = {
            name: attack_all(attack, texts, labels, grad if name == "gradient" else None) for name in order
        }
        got["ratio_gradient_vs_leave_one_out"] = (
            got["gradient"]["seconds_per_batch"] / got["leave_one_out"]["seconds_per_batch"]
        )
        rounds.append(got)
        print(f"repeat {r + 1}: {got}", flush=True)
    summary = {
        name: {key: statistics.mean(g[name][key] for g in rounds) for key in rounds[0]["leave_one_out"]}
        for name in ("leave_one_out", "gradient")
    }
    ratios = [g["ratio_gradient_vs_leave_one_out"] for g in rounds]
    path = write_results(
        "a2t_ranking",
        {
            "texts": args.texts,
            "batch": BATCH,
            "repeats": rounds,
            "mean": summary,
            "ratio_gradient_vs_leave_one_out": {"mean": statistics.mean(ratios), "each": ratios},
            "load_average_after": os.getloadavg(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
