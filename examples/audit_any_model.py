"""Audit a model fairtune did not train: a scikit-learn TF-IDF + logistic regression sentiment classifier
fitted on SST-2, audited for fairness and robustness on SST-2's dev set, with a report and gates.

    .venv/bin/python examples/audit_any_model.py [--data-dir ../shared/data/sst2_glue] [--out audits/tfidf]

The same four lines audit a Hugging Face folder or hub id, a `transformers` pipeline, a function, or a
running service (`ft.endpoint("http://localhost:8000")`): see docs/audit-any-model.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import fairtune as ft


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/sst2_glue")
    )
    ap.add_argument("--train-rows", type=int, default=20_000, help="SST-2 training rows to fit on")
    ap.add_argument("--eval-rows", type=int, default=872, help="SST-2 dev rows to audit on")
    ap.add_argument("--out", default="audits/tfidf-sst2")
    args = ap.parse_args()

    train = pd.read_csv(Path(args.data_dir) / "train.tsv", sep="\t").head(args.train_rows)
    dev = pd.read_csv(Path(args.data_dir) / "dev.tsv", sep="\t").head(args.eval_rows)
    names = {0: "negative", 1: "positive"}
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2), LogisticRegression(max_iter=1000))
    model.fit(train["sentence"], train["label"].map(names))

    # --- the four lines -----------------------------------------------------------------------------
    clf = ft.classifier(model)  # labels from model.classes_
    result = ft.audit(clf, dev, text_column="sentence", only=["fairness", "robustness"])
    gates = result.check_gates({"eval.accuracy": {"min": 0.75}, "fairness.flip_rate": {"max": 0.05}})
    result.save(args.out)  # report.html, audit/*.json, gates.json, model_card.md
    # ------------------------------------------------------------------------------------------------

    accuracy = result.metrics["eval.accuracy"]
    print(f"accuracy {accuracy:.4f}; {len(result.findings)} findings; report: {args.out}/report.html")
    for g in gates["gates"]:
        print(f"gate {g['metric']}: {g['status']} (value {g['value']:.4f})")
    return 0 if gates["passed"] else 3


if __name__ == "__main__":
    raise SystemExit(main())
