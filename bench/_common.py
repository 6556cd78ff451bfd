"""Helpers the benchmark scripts share."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GATE_FAILED = 3  # `fairtune run`: a gate failed, but the run itself completed


def fairtune(*args: str) -> float:
    """Run one fairtune command in its own process from the project root; return its wall seconds."""
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    t0 = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "fairtune", *args], cwd=ROOT, env=env)
    if code not in (0, GATE_FAILED):
        raise SystemExit(f"fairtune {' '.join(args)} failed with exit code {code}")
    return time.perf_counter() - t0


def trained_run(config: Path, *verb: str) -> Path:
    """The run directory of `config` (a path under ROOT), made first with `fairtune <verb> CONFIG` (default
    `run`) if it has no trained model yet."""
    from fairtune.config import load_config

    cfg = load_config(config)
    run = ROOT / cfg.output_dir / cfg.name
    if not (run / "model" / "config.json").is_file():
        fairtune(*(verb or ("run",)), str(config.relative_to(ROOT)))
    return run


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def host_class() -> str:
    """gpu-<name>, amx, avx512-bf16, avx512, avx2 or other: numbers from different classes are never
    compared as one ratio."""
    import torch

    if torch.cuda.is_available():
        return "gpu-" + torch.cuda.get_device_name(0).lower().replace(" ", "-")
    flags = cpu_flags()
    if "amx_tile" in flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512-bf16"
    if "avx512f" in flags:
        return "avx512"
    return "avx2" if "avx2" in flags else "other"


def machine() -> dict[str, object]:
    """The machine block every result carries: what ran it, so a number is never read off another host."""
    import platform
    from datetime import UTC, datetime

    import torch

    model = ""
    with contextlib.suppress(OSError):
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in ln
            ),
            "",
        )
    flags = cpu_flags()
    return {
        "host_class": host_class(),
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "isa": {f: f in flags for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")},
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_results(name: str, doc: dict[str, object]) -> Path:
    """Write bench/results/<host-class>/<name>.json atomically, with the machine block."""
    import json

    block = machine()
    path = ROOT / "bench" / "results" / str(block["host_class"]) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**doc, "machine": block}, indent=2) + "\n")
    tmp.replace(path)
    return path
