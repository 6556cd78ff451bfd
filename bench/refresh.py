"""`fairtune update` on the SST-2 MiniLM run with 2,000 labelled Amazon reviews (500 per domain): how
much the refreshed model gains on Amazon, how much it forgets of SST-2, every audit metric before and
after, and whether it was promoted. Writes the "update" block of this host class's drift.json.

    .venv/bin/python bench/refresh.py [--rows-per-domain 500] [--replay 0.5] [--lr LR] [--epochs N]

Each setting's result is also kept under "update_settings" (keyed by replay, lr and epochs), so settings
run one after another sit side by side; "update" is the one run last.

The update runs on a scratch copy of the run (runs/sst2-minilm-refresh: its config, metrics and audits,
and a link to its model), so the run itself and its current.json stay as they are. The parent is
OUTPUT_DIR/sst2-minilm, trained by `fairtune run configs/sst2-minilm.yaml` if missing.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, fairtune, read_results, scratch_copy, trained_run, write_results

AMAZON = ROOT.parent / "shared" / "data" / "amazon_multidomain"
DOMAINS = ("books", "dvd", "electronics", "kitchen")
NAMES = ("negative", "positive")


def amazon_rows(per_domain: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for domain in DOMAINS:
        lines = (AMAZON / f"{domain}.jsonl").read_text(encoding="utf-8").splitlines()
        for line in rng.sample(lines, per_domain):
            doc = json.loads(line)
            rows.append((" ".join(doc["text"].split()), NAMES[int(doc["label"])]))
    rng.shuffle(rows)
    return rows


def summarise(doc: dict[str, Any]) -> dict[str, Any]:
    rows = {r["metric"]: r for r in doc["comparison"]}
    return {
        "amazon_accuracy_before": rows["new.accuracy"]["parent"],
        "amazon_accuracy_after": rows["new.accuracy"]["child"],
        "sst2_dev_before": rows["eval.accuracy"]["parent"],
        "sst2_dev_after": rows["eval.accuracy"]["child"],
        "rows": doc["data"]["rows"],
        "replay": doc["replay"],
        "train": doc["train"],
        "promoted": doc["promoted"],
        "blocked_by": doc["blocked_by"],
        "comparison": doc["comparison"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows-per-domain", type=int, default=500)
    ap.add_argument("--replay", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, help="the refresh's peak learning rate (default: the run's)")
    ap.add_argument("--epochs", type=int, help="the refresh's epochs (default: the run's)")
    args = ap.parse_args()
    run = trained_run(ROOT / "configs" / "sst2-minilm.yaml")
    scratch = scratch_copy(run, "refresh")
    data = scratch / "amazon.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("sentence", "label"), *amazon_rows(args.rows_per_domain, args.seed)])
    seconds = fairtune(
        "update",
        str(scratch),
        "--data",
        str(data),
        "--name",
        "amazon",
        "--replay",
        str(args.replay),
        *(["--lr", str(args.lr)] if args.lr else []),
        *(["--epochs", str(args.epochs)] if args.epochs else []),
        "--no-progress",
    )
    doc = json.loads((scratch / "updates" / "amazon" / "update.json").read_text())
    out = read_results("drift") or {}
    out["update"] = {**summarise(doc), "seconds": seconds}
    key = f"replay={doc['replay']},lr={doc['train']['lr']},epochs={doc['train']['epochs']}"
    out.setdefault("update_settings", {})[key] = {
        k: v for k, v in out["update"].items() if k not in ("comparison", "blocked_by")
    }
    print(json.dumps({k: v for k, v in out["update"].items() if k != "comparison"}, indent=2))
    print(f"-> {write_results('drift', out)}")


if __name__ == "__main__":
    main()
