"""Run LangTest's robustness and bias tests on a sentence CSV with a local text-classification model.

LangTest side of the peers side-by-side benchmark (bench/peers.py). This script runs INSIDE the
separate LangTest virtualenv made by ``bench/langtest_env.sh`` (langtest 2.7.0, transformers 4.x,
pandas 2), so it must not import fairtune (``bench/_common.py`` needs only the standard library and
torch: its ``write_results`` adds the machine block to the output).

    bench/.venv-langtest/bin/python bench/_langtest_runner.py \\
        --model runs/sst2-minilm/model --data SENTENCES.csv \\
        --tests add_typo,uppercase,replace_to_female_pronouns --seed 0 --out OUT.json

The CSV has the columns text,label (the label as an integer). The model is loaded once as a
transformers pipeline. One ``Harness`` over that pipeline then runs every test (``generate``, ``run``,
``generated_results``), as LangTest is used: its counts and its wall time are the results. Then each
test runs again in a Harness of its own, for its own wall time. A test's failures are LangTest's own
verdict: the ``pass`` column of ``generated_results()``, which for text classification is false when
the top label of the perturbed sentence differs from the top label of the original
(``SequenceClassificationOutput.__eq__``). Sentences a test does not change are dropped by LangTest
itself (``filter_unique_samples``) and are not counted.

Writes {"tests": {name: {"tested", "failures", "failure_rate", "seconds", "alone", "examples"}},
"load_seconds", "seconds" (load and the one Harness), "per_test_seconds", "versions", ...}.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

#: The LangTest test category each test belongs to (its config section).
CATEGORY_PREFIXES = {"replace_to_": "bias"}


def category_of(test: str) -> str:
    return next((c for p, c in CATEGORY_PREFIXES.items() if test.startswith(p)), "robustness")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="Hugging Face sequence-classification model folder")
    p.add_argument("--data", required=True, help="CSV with columns text,label")
    p.add_argument("--tests", required=True, help="comma-separated LangTest test names")
    p.add_argument("--seed", type=int, default=0, help="seeds Python's random before each test")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("--examples", type=int, default=3, help="failing pairs to keep per test")
    p.add_argument("--params", default="{}", help="JSON {test: its LangTest config beyond min_pass_rate}")
    p.add_argument("--out", required=True, help="output JSON path")
    return p.parse_args(argv)


def harness(pipe: Any, data: str, tests: list[str], seed: int, params: dict[str, Any]) -> tuple[Any, int]:
    """One Harness running `tests` (each with its `params`) over the CSV: (generated_results() or None,
    sentences loaded)."""
    from langtest import Harness

    config: dict[str, Any] = {"defaults": {"min_pass_rate": 0.0}}
    for test in tests:
        config.setdefault(category_of(test), {})[test] = {"min_pass_rate": 0.0, **params.get(test, {})}
    random.seed(seed)  # LangTest's perturbations draw from the global `random`
    # Harness prints its configuration and progress bars to stdout; keep that out of our output
    with contextlib.redirect_stdout(io.StringIO()):
        h = Harness(
            task="text-classification",
            model={"model": pipe, "hub": "huggingface"},
            data={"data_source": data},
            config={"tests": config},
        )
        h.generate()
        # a test that changes no sentence leaves no test case, and generated_results() then fails
        df = (h.run(), h.generated_results())[1] if h._testcases else None
    return df, len(h.data)


def result_name(test: str, params: dict[str, Any]) -> str:
    """The test_type LangTest gives `test`'s rows: multiple_perturbations' are named by their chain."""
    chain = params.get(test, {}).get("perturbations1")
    return "-".join(chain) if test == "multiple_perturbations" and chain else test


def summary(df: Any, test: str, examples: int) -> dict[str, Any]:
    """Sentences `test` (its rows' test_type) changed, how many changed the predicted label, a few."""
    rows = df[df["test_type"] == test] if df is not None and len(df) else []
    if not len(rows):
        return {"tested": 0, "failures": 0, "failure_rate": None, "examples": []}
    failed = rows[~rows["pass"].astype(bool)]
    return {
        "tested": len(rows),
        "failures": len(failed),
        "failure_rate": len(failed) / len(rows),
        "examples": [
            {
                "original": r["original"],
                "perturbed": r["test_case"],
                "expected": str(r["expected_result"]),
                "actual": str(r["actual_result"]),
            }
            for _, r in failed.head(examples).iterrows()
        ],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import importlib.metadata as md

    t_import = time.perf_counter()
    import torch
    import transformers
    from langtest import Harness  # noqa: F401  (import cost is counted apart from the tests)

    if args.threads:
        torch.set_num_threads(args.threads)
    import_seconds = time.perf_counter() - t_import

    with open(args.data, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    tests = [t for t in args.tests.split(",") if t]
    params = json.loads(args.params)

    t0 = time.perf_counter()
    pipe = transformers.pipeline(task="text-classification", model=str(Path(args.model).resolve()))
    load_seconds = time.perf_counter() - t0

    # 1. every test in one Harness, as LangTest is used: the rates and the total wall time
    t0 = time.perf_counter()
    df, loaded = harness(pipe, args.data, tests, args.seed, params)
    one_pass_seconds = time.perf_counter() - t0
    if loaded != len(rows):
        raise SystemExit(f"LangTest loaded {loaded} of the {len(rows)} sentences of {args.data}")
    out = {test: summary(df, result_name(test, params), args.examples) for test in tests}

    # 2. each test in a Harness of its own: its wall time (its perturbations draw other random numbers
    #    than in the shared Harness, so its counts may differ a little; they are kept beside the time)
    for test in tests:
        t0 = time.perf_counter()
        alone, _ = harness(pipe, args.data, [test], args.seed, params)
        r = summary(alone, result_name(test, params), 0)
        out[test].update(seconds=time.perf_counter() - t0, alone={k: r[k] for k in ("tested", "failures")})
        print(
            f"[langtest] {test}: {out[test]['failures']}/{out[test]['tested']} failed; "
            f"alone {r['failures']}/{r['tested']} in {out[test]['seconds']:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    # the model's label for each original sentence (untimed), to check that both tools see the same model
    labels = [pipe(r["text"], truncation=True)[0]["label"] for r in rows]
    doc = {
        "model": args.model,
        "data": args.data,
        "sentences": len(rows),
        "seed": args.seed,
        "torch_threads": torch.get_num_threads(),
        "import_seconds": import_seconds,
        "load_seconds": load_seconds,
        "one_pass_seconds": one_pass_seconds,
        "seconds": load_seconds + one_pass_seconds,
        "per_test_seconds": load_seconds + sum(t["seconds"] for t in out.values()),
        "tests": out,
        "original_labels": labels,
        "versions": {p: md.version(p) for p in ("langtest", "transformers", "torch", "pandas", "pydantic")},
    }
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import write_results  # standard library and torch only: it adds the machine block

    write_results("langtest", doc, path=Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
