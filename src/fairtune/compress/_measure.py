"""What a variant costs and how well it does: size on disk, latency at batch 1, throughput at batch 32,
peak memory, accuracy and calibration."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".pt", ".bin", ".data")


def size_mb(path: Path) -> float:
    """Size on disk of the weights in a model folder (tokenizer and config files excluded), in MB."""
    files = [p for p in path.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES]
    return sum(p.stat().st_size for p in files) / 1e6


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@contextmanager
def peak_memory() -> Any:
    """Peak resident memory added while the block runs, in MB (Linux: VmHWM, reset through
    /proc/self/clear_refs). Yields a dict whose "peak_mb" is filled on exit (None where unsupported)."""
    out: dict[str, float | None] = {"peak_mb": None}
    before = _status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        resettable = True
    except OSError:
        resettable = False
    try:
        yield out
    finally:
        hwm = _status_kb("VmHWM")
        if resettable and before is not None and hwm is not None:
            out["peak_mb"] = max(0.0, (hwm - before) / 1024)


def latency_ms(clf: Any, texts: Sequence[str], *, warmup: int = 3) -> dict[str, float]:
    """Per-request latency at batch 1 over `texts` (each sent alone), p50 and p95 in ms."""
    for t in texts[:warmup]:
        clf.predict_proba([t])
    times = []
    for t in texts:
        t0 = time.perf_counter()
        clf.predict_proba([t])
        times.append((time.perf_counter() - t0) * 1000)
    arr = np.asarray(times)
    return {"p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95))}


def throughput(clf: Any, texts: Sequence[str], *, batch_size: int = 32) -> float:
    """Texts per second through `predict_proba` at `batch_size` (after one warm-up batch)."""
    old = getattr(clf, "batch_size", None)
    if old is not None:
        clf.batch_size = batch_size
    try:
        clf.predict_proba(list(texts[:batch_size]))
        t0 = time.perf_counter()
        clf.predict_proba(list(texts))
        return len(texts) / (time.perf_counter() - t0)
    finally:
        if old is not None:
            clf.batch_size = old


def measure_variant(
    load: Callable[[], Any],
    texts: Sequence[str],
    labels: np.ndarray,
    *,
    latency_texts: int = 100,
    throughput_texts: int = 512,
) -> tuple[Any, dict[str, Any]]:
    """Load a variant and measure it. Returns (classifier, metrics)."""
    from fairtune.evaluation import classification_metrics

    with peak_memory() as mem:
        t0 = time.perf_counter()
        clf = load()
        load_s = time.perf_counter() - t0
        probs = clf.predict_proba(list(texts))
        lat = latency_ms(clf, list(texts[:latency_texts]))
        tput = throughput(clf, list(texts[:throughput_texts]))
    quality = classification_metrics(labels, probs, clf.labels)
    return clf, {
        "load_seconds": load_s,
        "latency_p50_ms": lat["p50_ms"],
        "latency_p95_ms": lat["p95_ms"],
        "throughput": tput,
        "peak_memory_mb": mem["peak_mb"],
        "accuracy": quality["accuracy"],
        "ece": quality["ece"],
        "macro_f1": quality.get("macro_f1"),
    }
