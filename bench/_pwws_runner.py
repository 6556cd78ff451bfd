"""Run TextAttack's PWWS recipe (Ren et al. 2019) on a sample of GLUE SST-2 dev rows.

Reference side of the robustness side-by-side benchmark. This script runs INSIDE the
separate TextAttack virtualenv made by ``bench/textattack_env.sh`` (transformers 4.57.5),
so it must not import fairtune or anything from the project venv (``bench/_common.py`` needs only the
standard library and torch: its ``write_results`` adds the machine block to the output).

    bench/.venv-textattack/bin/python bench/_pwws_runner.py \\
        --model runs/sst2-minilm/model --data ../shared/data/sst2_glue/dev.tsv \\
        --n 200 --seed 0 --out OUT.json

The sample is ``numpy.random.default_rng(seed).permutation(len(rows))[:n]`` over the data
rows of the TSV (0-based, header excluded); the chosen indices are written to the output so
another tool can attack exactly the same examples (or pass ``--indices-from`` to reuse a
list written by another tool).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# Must be set before textattack / nltk are imported: textattack reads TA_CACHE_DIR at import
# time (the post_install_check_3 marker there stops it from trying NLTK downloads), and nltk
# builds its search path from NLTK_DATA when first imported.
os.environ.setdefault("NLTK_DATA", str(BENCH_DIR / ".nltk_data"))
os.environ.setdefault("TA_CACHE_DIR", str(BENCH_DIR / ".textattack_cache"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")

FAIRTUNE_DEFAULT_MAX_LENGTH = 128  # fairtune's data.max_length default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="Hugging Face sequence-classification model dir")
    p.add_argument("--data", required=True, help="GLUE SST-2 TSV (header: sentence<TAB>label)")
    p.add_argument("--n", type=int, default=200, help="number of examples to attack")
    p.add_argument("--seed", type=int, default=0, help="sampling seed, also TextAttack's random_seed")
    p.add_argument("--out", required=True, help="output JSON path")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: os.cpu_count())")
    p.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="tokenizer max length; HuggingFaceModelWrapper pads every query to it. Default: "
        "data.max_length from MODEL/../config.yaml (a fairtune run dir) if present, else "
        f"{FAIRTUNE_DEFAULT_MAX_LENGTH} (fairtune's default)",
    )
    p.add_argument(
        "--indices-from",
        default=None,
        help='attack these rows instead of sampling: a JSON file with an "indices" list',
    )
    p.add_argument(
        "--allow-missing-weights",
        action="store_true",
        help="do not fail when the checkpoint lacks weights (e.g. no classifier head); smoke tests only",
    )
    p.add_argument("--n-examples-out", type=int, default=5, help="successful pairs to keep in the JSON")
    return p.parse_args(argv)


def read_sst2_tsv(path: str) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    labels: list[int] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if [h.strip() for h in header[:2]] != ["sentence", "label"]:
            raise SystemExit(f"{path}: expected header 'sentence<TAB>label', got {header!r}")
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 2:
                raise SystemExit(f"{path}:{lineno}: expected 2 tab-separated fields, got {len(row)}")
            texts.append(row[0])
            labels.append(int(row[1]))
    return texts, labels


def default_max_length(model_dir: Path) -> tuple[int, str]:
    """data.max_length of the fairtune run that saved MODEL, when MODEL/../config.yaml exists."""
    cfg = model_dir.parent / "config.yaml"
    if cfg.is_file():
        try:
            import yaml  # PyYAML comes with textattack's dependencies

            data = (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("data") or {}
            if isinstance(data.get("max_length"), int):
                return int(data["max_length"]), f"{cfg} data.max_length"
        except Exception as e:
            print(f"[pwws] could not read max_length from {cfg}: {e}", file=sys.stderr)
    return FAIRTUNE_DEFAULT_MAX_LENGTH, "fairtune default (no run config.yaml next to the model)"


def load_model(model_dir: Path, allow_missing: bool) -> tuple[object, list[str]]:
    """Load a (transformers 5.x saved) sequence-classification model with transformers 4.x.

    Returns the model and a list of notes on anything that needed repairing.
    """
    import transformers
    from transformers import AutoConfig, AutoModelForSequenceClassification

    notes: list[str] = []
    try:
        config = AutoConfig.from_pretrained(model_dir)
    except Exception as e:
        # Fallback: a transformers-5 field that 4.x cannot digest. Rebuild the config from the
        # raw dict, keeping only what the 4.x config class knows about.
        raw = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        config_cls = transformers.CONFIG_MAPPING[raw["model_type"]]
        known = set(config_cls().to_dict()) | {"id2label", "label2id", "architectures"}
        dropped = sorted(k for k in raw if k not in known)
        config = config_cls(**{k: v for k, v in raw.items() if k in known})
        notes.append(f"AutoConfig failed ({type(e).__name__}: {e}); rebuilt config, dropped {dropped}")

    model, info = AutoModelForSequenceClassification.from_pretrained(
        model_dir, config=config, output_loading_info=True
    )
    missing = list(info.get("missing_keys") or [])
    unexpected = list(info.get("unexpected_keys") or [])
    mismatched = [str(m) for m in info.get("mismatched_keys") or []]
    if missing or mismatched:
        msg = f"checkpoint lacks weights: missing={missing} mismatched={mismatched}"
        if not allow_missing:
            raise SystemExit(f"[pwws] {msg} (randomly initialised; pass --allow-missing-weights to go on)")
        notes.append(msg + " -- randomly initialised (--allow-missing-weights)")
    if unexpected:
        notes.append(f"unused checkpoint weights: {unexpected}")
    model.eval()
    return model, notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()

    import warnings

    import numpy as np
    import torch

    # TextAttack's end-of-run summary averages over successful attacks only; with none it warns
    # "Mean of empty slice". The summary is not used here.
    warnings.filterwarnings("ignore", category=RuntimeWarning, message="Mean of empty slice")
    warnings.filterwarnings("ignore", category=RuntimeWarning, message="invalid value encountered")

    torch.set_num_threads(args.threads if args.threads else (os.cpu_count() or 1))

    import nltk

    # WordSwapWordNet() calls nltk.download("omw-1.4") whenever it is built. Offline that only
    # prints an error (after a network attempt); the English WordNet it needs is local.
    download_calls: list[str] = []

    def _no_download(info_or_id=None, *a, **k):
        download_calls.append(str(info_or_id))
        return False

    nltk.download = _no_download

    import textattack
    import transformers
    from textattack.attack_recipes import PWWSRen2019
    from textattack.attack_results import (
        FailedAttackResult,
        MaximizedAttackResult,
        SkippedAttackResult,
        SuccessfulAttackResult,
    )
    from textattack.models.wrappers import HuggingFaceModelWrapper
    from transformers import AutoTokenizer

    ta_version = _version("textattack")
    model_dir = Path(args.model).resolve()

    # --- data and sample ------------------------------------------------------------------
    texts, labels = read_sst2_tsv(args.data)
    if args.indices_from:
        indices = [int(i) for i in json.loads(Path(args.indices_from).read_text())["indices"]][: args.n]
        sample_rule = f"indices from {args.indices_from}"
    else:
        if args.n > len(texts):
            raise SystemExit(f"--n {args.n} > {len(texts)} rows in {args.data}")
        indices = [int(i) for i in np.random.default_rng(args.seed).permutation(len(texts))[: args.n]]
        sample_rule = (
            "numpy.random.default_rng(seed).permutation(len(rows))[:n]; 0-based data rows, header excluded"
        )
    n = len(indices)

    # --- model ----------------------------------------------------------------------------
    t_load = time.perf_counter()
    model, load_notes = load_model(model_dir, args.allow_missing_weights)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if args.max_length is not None:
        max_length, max_length_source = args.max_length, "--max-length"
    else:
        max_length, max_length_source = default_max_length(model_dir)
    # HuggingFaceModelWrapper pads every query to tokenizer.model_max_length (512 for MiniLM);
    # use the same length fairtune truncates to, so the benchmark times the search, not padding.
    tokenizer.model_max_length = max_length
    model_wrapper = HuggingFaceModelWrapper(model, tokenizer)
    id2label = {int(k): v for k, v in (model.config.id2label or {}).items()}
    label_names = [id2label[i] for i in sorted(id2label)] if id2label else None

    attack = PWWSRen2019.build(model_wrapper)
    # Load WordNet now so its (lazy) loading is not charged to the first attacked example.
    from nltk.corpus import wordnet

    wordnet.synsets("good")
    load_seconds = time.perf_counter() - t_load

    dataset = textattack.datasets.Dataset([(texts[i], labels[i]) for i in indices], label_names=label_names)
    attack_args = textattack.AttackArgs(
        num_examples=n,
        disable_stdout=True,
        silent=True,
        random_seed=args.seed,
        query_budget=None,
    )
    attacker = textattack.Attacker(attack, dataset, attack_args)

    # --- attack ---------------------------------------------------------------------------
    t0 = time.perf_counter()
    results = attacker.attack_dataset()
    seconds = time.perf_counter() - t0

    succeeded = sum(isinstance(r, (SuccessfulAttackResult, MaximizedAttackResult)) for r in results)
    failed = sum(isinstance(r, FailedAttackResult) for r in results)
    skipped = sum(isinstance(r, SkippedAttackResult) for r in results)
    attacked = [r for r in results if not isinstance(r, SkippedAttackResult)]
    queries = [int(r.num_queries) for r in attacked]
    per_example = []
    for idx, r in zip(indices, results, strict=True):
        per_example.append(
            {
                "index": idx,
                "label": labels[idx],
                "result": type(r).__name__.replace("AttackResult", "").lower(),
                "num_queries": int(r.num_queries),
                "words_changed": len(
                    r.original_result.attacked_text.all_words_diff(r.perturbed_result.attacked_text)
                )
                if not isinstance(r, SkippedAttackResult)
                else 0,
            }
        )
    examples = [
        {
            "index": idx,
            "label": labels[idx],
            "original": r.original_result.attacked_text.text,
            "perturbed": r.perturbed_result.attacked_text.text,
            "original_output": int(r.original_result.output),
            "perturbed_output": int(r.perturbed_result.output),
        }
        for idx, r in zip(indices, results, strict=True)
        if isinstance(r, SuccessfulAttackResult)
    ][: args.n_examples_out]

    denom = succeeded + failed
    out = {
        "recipe": f"PWWS (Ren et al. 2019) via textattack {_short(ta_version)}",
        "textattack_version": ta_version,
        "transformers_version": transformers.__version__,
        "model": str(model_dir),
        "data": str(Path(args.data).resolve()),
        "n": n,
        "seed": args.seed,
        "sample": sample_rule,
        "indices": indices,
        "attack_success_rate": (succeeded / denom) if denom else None,
        "attack_success_rate_definition": "succeeded / (succeeded + failed); skipped examples "
        "(originally misclassified, nothing to attack) are excluded from the denominator",
        "skipped": skipped,
        "succeeded": succeeded,
        "failed": failed,
        "queries_per_example": (sum(queries) / len(queries)) if queries else None,
        "queries_per_example_definition": "mean TextAttack num_queries over attacked (non-skipped) examples",
        "seconds": seconds,
        "seconds_definition": "wall time of Attacker.attack_dataset() only (model load, attack build "
        "and WordNet load excluded: see load_seconds)",
        "seconds_per_example": seconds / n if n else None,
        "seconds_per_attacked_example": (seconds / len(attacked)) if attacked else None,
        "load_seconds": load_seconds,
        "total_seconds": time.perf_counter() - t_start,
        "accuracy_under_attack": failed / n if n else None,
        "clean_accuracy": (n - skipped) / n if n else None,
        "max_length": max_length,
        "max_length_source": max_length_source,
        "padding": "HuggingFaceModelWrapper pads every query to max_length (padding='max_length')",
        "model_batch_size": attack.goal_function.batch_size,
        "query_budget": None,
        "id2label": id2label,
        "load_notes": load_notes,
        "nltk_downloads_skipped": download_calls,
        "constraints": [str(c) for c in attack.constraints]
        + [str(c) for c in attack.pre_transformation_constraints],
        "transformation": str(attack.transformation),
        "search_method": str(attack.search_method),
        "goal_function": type(attack.goal_function).__name__,
        "examples": examples,
        "per_example": per_example,
    }
    sys.path.insert(0, str(BENCH_DIR))
    from _common import write_results

    out_path = write_results("pwws", out, path=Path(args.out))
    print(
        f"[pwws] n={n} succeeded={succeeded} failed={failed} skipped={skipped} "
        f"ASR={out['attack_success_rate']} q/ex={out['queries_per_example']} "
        f"{out['seconds_per_example']:.2f}s/ex -> {out_path}",
        file=sys.stderr,
    )
    return 0


def _version(dist: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(dist)


def _short(version: str) -> str:
    m = re.match(r"(\d+)\.(\d+)", version)
    return f"{m.group(1)}.{m.group(2)}" if m else version


if __name__ == "__main__":
    sys.exit(main())
