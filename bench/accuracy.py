"""SST-2 dev accuracy of the shipped configs, with wall time and peak memory.

Run from the project root (about 25 minutes on 2 cores):

    .venv/bin/python bench/accuracy.py [--only sst2_minilm|sst2_minilm_lora]

Each shipped config goes through the whole `fairtune run` pipeline (data card, training on the full
GLUE SST-2 train split of 67,349 phrases, evaluation on its dev split of 872 sentences, report and
gates) in its own subprocess, in a fresh output folder. The wall time is the whole run's; peak RSS is
that subprocess's own (`os.wait4`). Results are printed and written to
bench/results/<host-class>/accuracy.json (configs not run this time keep that file's earlier entries).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, read_results, write_results

GATE_FAILED = 3  # fairtune run: a gate failed (the run itself completed)
CONFIGS = {"sst2_minilm": "configs/sst2-minilm.yaml", "sst2_minilm_lora": "configs/sst2-minilm-lora.yaml"}


def train_one(config: str, out_dir: str) -> dict[str, Any]:
    """Run `fairtune run` on one config; return accuracy, wall seconds and peak RSS of the child."""
    name = Path(config).stem
    cmd = [sys.executable, "-m", "fairtune", "run", config, "--no-progress", f"output_dir={out_dir}"]
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, GATE_FAILED):
        raise SystemExit(f"{shlex.join(cmd)} failed with exit code {code}")
    metrics = json.loads((Path(out_dir) / name / "metrics.json").read_text())
    gates = json.loads((Path(out_dir) / name / "gates.json").read_text())
    ev, tr = metrics["eval"], metrics["train"]
    return {
        "config": config,
        "dev_accuracy": ev["accuracy"],
        "dev_macro_f1": ev["macro_f1"],
        "dev_ece": ev["ece"],
        "wall_seconds": wall,
        "train_seconds": tr["train_seconds"],
        "samples_per_second": tr["samples_per_second"],
        "steps": tr["steps"],
        "precision": tr["precision"],
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "command": f"fairtune run {config}",
        "gates_passed": gates["passed"],
        "evals": tr["evals"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append")
    args = parser.parse_args()
    old = read_results("accuracy") or {}  # this host class's only: no numbers from another CPU
    results = {k: v for k, v in old.items() if k in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as out:
        for key in args.only or list(CONFIGS):
            results[key] = train_one(CONFIGS[key], out)
            r = results[key]
            print(
                f"{key}: dev accuracy {r['dev_accuracy']:.4f}, wall {r['wall_seconds']:.0f}s, "
                f"peak RSS {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    path = write_results("accuracy", results)
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
