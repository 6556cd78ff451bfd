"""Helpers the benchmark scripts share."""

from __future__ import annotations

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
