"""Small-data fine-tuning with and without EDA augmentation: SST-2 (sentence-level split) with 100, 500 and
2,000 training sentences, dev accuracy over 3 seeds.

Run from the project root, with nothing else running:

    .venv/bin/python bench/low_resource.py

Data: ../shared/data/sst2_sentences (train 6,920 sentences; dev 872). For each size N and seed, N training
sentences are drawn (stratified, seeded); the same N are trained on without augmentation (`none`) and with
`train.augment: {method: eda, n_aug: 4}` (each sentence plus 4 EDA copies). Both get the same number of
optimizer steps (batch 16, the same learning rate): `none` runs 10, 4 and 2 epochs for N = 100, 500 and
2,000, and `eda` a fifth of that over its five times larger set. So the comparison is of what the steps see
(varied copies against repeats of the originals), not of compute. Everything runs through `fairtune train`;
the dev set is never augmented. Results: bench/results/<host-class>/low_resource.json ({N: {none, eda}}
for each size, and the settings and timings under "meta").
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, read_results, write_results

DATA = ROOT / ".." / "shared" / "data" / "sst2_sentences"
EPOCHS = {100: 10, 500: 4, 2000: 2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,500,2000")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-aug", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--results", type=Path, help="default: bench/results/<host-class>/low_resource.json")
    args = ap.parse_args()

    from fairtune.config import build_config
    from fairtune.workflows.train import train

    with (DATA / "train.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    labels = np.array([int(r["label"]) for r in rows])
    sizes = [int(s) for s in args.sizes.split(",")]
    # Sizes not asked for this time keep their earlier results (the sizes take from minutes to an hour), from
    # this host class's file only.
    earlier = read_results("low_resource", args.results) or {}
    out: dict[str, Any] = {k: v for k, v in earlier.items() if k.isdigit()}
    timing: dict[str, float] = dict(earlier.get("meta", {}).get("seconds", {}))
    with tempfile.TemporaryDirectory(prefix="bench-lowres-") as td:
        work = Path(td)
        for n in sizes:
            acc: dict[str, list[float]] = {"none": [], "eda": []}
            for seed in range(args.seeds):
                rng = np.random.default_rng([n, seed])
                share = labels.mean()
                k1 = round(n * share)
                pick = np.concatenate(
                    [
                        rng.choice(np.flatnonzero(labels == 0), n - k1, replace=False),
                        rng.choice(np.flatnonzero(labels == 1), k1, replace=False),
                    ]
                )
                path = work / f"train-{n}-{seed}.tsv"
                with path.open("w", newline="") as f:
                    w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
                    w.writerow(["sentence", "label"])
                    w.writerows([rows[i]["sentence"], rows[i]["label"]] for i in pick)
                for method in ("none", "eda"):
                    raw: dict[str, Any] = {
                        "name": f"{method}-{n}-{seed}",
                        "output_dir": str(work / "runs"),
                        "seed": seed,
                        "data": {
                            "train": str(path),
                            "eval": str(DATA / "dev.tsv"),
                            "text_column": "sentence",
                            "label_names": ["negative", "positive"],
                            "max_length": 66,
                        },
                        "model": {"name": "minilm"},
                        "train": {
                            "epochs": EPOCHS.get(n, 2),
                            "batch_size": 16,
                            "lr": args.lr,
                            "warmup_ratio": 0.1,
                            "save_every": 100_000,
                            "eval_every": 100_000,  # evaluate once, at the end
                        },
                    }
                    if method == "eda":
                        raw["train"]["augment"] = {"method": "eda", "n_aug": args.n_aug}
                        raw["train"]["epochs"] = EPOCHS.get(n, 2) / (1 + args.n_aug)  # the same steps
                    t0 = time.perf_counter()
                    m = train(build_config(raw), show_progress=False)
                    timing[f"{method}-{n}-{seed}"] = time.perf_counter() - t0
                    acc[method].append(float(m["eval"]["accuracy"]))
                    print(
                        f"N={n} seed={seed} {method}: dev accuracy {acc[method][-1]:.4f} "
                        f"({timing[f'{method}-{n}-{seed}']:.0f} s)",
                        flush=True,
                    )
            out[str(n)] = {
                k: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "runs": v}
                for k, v in acc.items()
            }
            write_results("low_resource", out, path=args.results)  # {N: {eda, none}}, after each N
    meta = {
        "seeds": args.seeds,
        "n_aug": args.n_aug,
        "epochs_none": {str(k): v for k, v in EPOCHS.items()},
        "epochs_eda": {str(k): v / (1 + args.n_aug) for k, v in EPOCHS.items()},
        "steps": "equal for none and eda at each N",
        "lr": args.lr,
        "batch_size": 16,
        "eval": "sst2_sentences/dev.tsv (872)",
        "seconds": timing,
    }
    meta["eda_minus_none"] = {n: out[n]["eda"]["mean"] - out[n]["none"]["mean"] for n in out}
    out = {k: out[k] for k in sorted(out, key=int)}
    write_results("low_resource", {**out, "meta": meta}, path=args.results)
    for n in sizes:
        r = out[str(n)]
        print(
            f"N={n}: none {r['none']['mean']:.4f} ± {r['none']['std']:.4f}; "
            f"eda {r['eda']['mean']:.4f} ± {r['eda']['std']:.4f}"
        )


if __name__ == "__main__":
    main()
