"""Two CPU processes with the gloo backend, launched by torchrun: the loop runs unchanged under DDP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_torchrun_two_cpu_processes_gloo(tmp_path: Path, tiny_config: dict) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({**tiny_config, "name": "ddp"}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "fairtune",
        "train",
        str(cfg),
        "--no-progress",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((Path(tiny_config["output_dir"]) / "ddp" / "metrics.json").read_text())
    t = metrics["train"]
    assert t["world_size"] == 2
    # 96 rows / batch 8 = 12 batches an epoch, split over 2 ranks -> 6 optimizer steps an epoch
    assert t["steps"] == 60 and t["samples"] == 60 * 16
    assert metrics["eval"]["accuracy"] >= 0.8
    assert res.stdout.count("trained ") == 1  # only rank 0 reports and writes
