"""How far can DP-SGD on a frozen encoder go? The non-private ceiling of a linear head on the packaged
MiniLM's frozen features for SST-2, as the training set grows.

DP-SGD's noise grows with the number of weights trained, so the cheap DP recipes train few: a head, or
the top layer. DP training of a head on frozen features is not expected to beat the same head trained
without noise. This bench measures that ceiling (Tramèr & Boneh 2021, "Differentially private learning
needs better features"): logistic regression (scikit-learn, standardised features, the best of C = 0.01,
0.1 and 1 on the dev set, so the ceiling is if anything optimistic) on

- `cls`: the last layer's [CLS] vector, what BertForSequenceClassification's pooler and head see;
- `mean`: the last layer mean-pooled over tokens, how the packaged sentence-transformer was trained;
- `mean_last4`: the last four layers, each mean-pooled, concatenated.

Run from the project root, with nothing else running (about 4 minutes here):

    .venv/bin/python bench/dp_ceiling.py

Data: ../shared/data/sst2_glue: stratified samples of 1,000 to 8,000 training phrases (seed 0; each sample
contains the smaller ones) and the 872 dev sentences. Results:
bench/results/<host-class>/dp_ceiling.json.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, write_results

DATA = ROOT / ".." / "shared" / "data" / "sst2_glue"
C_GRID = (0.01, 0.1, 1.0)


def read(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows], np.array([int(r["label"]) for r in rows])


def features(texts: list[str], max_length: int, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Frozen features of the packaged MiniLM, computed in length-sorted batches."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from fairtune.models._resolve import resolve_model

    path, _ = resolve_model("minilm")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
    out: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for s in range(0, len(texts), batch_size):
            idx = order[s : s + batch_size]
            enc = tok(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**enc, output_hidden_states=True).hidden_states
            mask = enc["attention_mask"].unsqueeze(-1).float()

            def mean(h: torch.Tensor, mask: torch.Tensor = mask) -> torch.Tensor:
                return (h * mask).sum(1) / mask.sum(1)

            batch = {
                "cls": hidden[-1][:, 0],
                "mean": mean(hidden[-1]),
                "mean_last4": torch.cat([mean(h) for h in hidden[-4:]], dim=-1),
            }
            for k, v in batch.items():
                out.setdefault(k, np.zeros((len(texts), v.shape[1]), np.float32))[idx] = v.numpy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,2000,4000,8000")
    ap.add_argument("--max-length", type=int, default=66)
    ap.add_argument("--results", type=Path, help="default: bench/results/<host-class>/dp_ceiling.json")
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    sizes = sorted(int(s) for s in args.sizes.split(","))
    train_texts, train_y = read(DATA / "train.tsv")
    dev_texts, dev_y = read(DATA / "dev.tsv")
    # Nested stratified samples: the first n of one stratified shuffle.
    pick, _ = train_test_split(
        np.arange(len(train_y)), train_size=sizes[-1], stratify=train_y, random_state=0
    )
    t0 = time.perf_counter()
    f_train = features([train_texts[i] for i in pick], args.max_length)
    f_dev = features(dev_texts, args.max_length)
    encode_s = time.perf_counter() - t0
    y = train_y[pick]
    acc: dict[str, dict[str, float]] = {}
    by_c: dict[str, dict[str, dict[str, float]]] = {}
    for name in f_train:
        acc[name], by_c[name] = {}, {}
        for n in sizes:
            scaler = StandardScaler().fit(f_train[name][:n])
            x, x_dev = scaler.transform(f_train[name][:n]), scaler.transform(f_dev[name])
            by_c[name][str(n)] = {
                str(c): float(LogisticRegression(C=c, max_iter=3000).fit(x, y[:n]).score(x_dev, dev_y))
                for c in C_GRID
            }
            acc[name][str(n)] = max(by_c[name][str(n)].values())
            print(
                f"{name:>10} n={n:>5}: dev accuracy {acc[name][str(n)]:.4f} {by_c[name][str(n)]}", flush=True
            )
    best = max((a, name) for name, by_n in acc.items() for a in by_n.values())
    out: dict[str, Any] = {
        "dev_accuracy": acc,
        "best": {"accuracy": best[0], "features": best[1]},
        "target_dp_dev_accuracy": 0.85,
        "meaning": "non-private ceiling of a linear head on the frozen packaged MiniLM; DP training of "
        "such a head can only do worse",
        "dev_accuracy_by_c": by_c,
        "classifier": f"sklearn LogisticRegression on standardised features, the best C of {C_GRID} on dev "
        "(picked on the evaluation set itself, so if anything an optimistic ceiling)",
        "train": f"stratified samples of sst2_glue/train.tsv (seed 0), sizes {sizes}",
        "eval": f"sst2_glue/dev.tsv ({len(dev_y)})",
        "encode_seconds": encode_s,
    }
    path = write_results("dp_ceiling", out, path=args.results)
    print(f"best: {best[0]:.4f} ({best[1]}) -> {path}")


if __name__ == "__main__":
    main()
