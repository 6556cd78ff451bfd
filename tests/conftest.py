"""Shared fixtures: a tiny BERT built in code and tiny data written per test."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

torch.set_num_threads(1)  # tiny models gain nothing from threads, and 2 cores are shared

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fairtune.testing import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def tiny_data(tmp_path: Path) -> tuple[Path, Path]:
    from fairtune.testing import tiny_sentiment_rows, write_csv

    train = write_csv(tmp_path / "train.csv", tiny_sentiment_rows(96, seed=1))
    ev = write_csv(tmp_path / "eval.csv", tiny_sentiment_rows(32, seed=2))
    return train, ev


@pytest.fixture
def tiny_config(tmp_path: Path, tiny_model_dir: Path, tiny_data: tuple[Path, Path]) -> dict:
    """A raw config dict that trains the tiny model on the tiny data in a second or two."""
    train, ev = tiny_data
    return {
        "name": "tiny",
        "output_dir": str(tmp_path / "runs"),
        "seed": 7,
        "data": {"train": str(train), "eval": str(ev), "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {
            "epochs": 10,
            "batch_size": 8,
            "lr": 1e-2,
            "save_every": 10,
            "log_every": 4,
            "warmup_ratio": 0.1,
            "precision": "fp32",
        },
    }


def train_monitored_run(root: str | Path, model_dir: str | Path, monitor: dict[str, Any]) -> Path:
    """Train the tiny run (6 epochs) with a 160-row eval split, the monitor's reference, and these
    `monitor` settings; returns its run directory."""
    import yaml

    from fairtune.cli import main
    from fairtune.testing import tiny_run_config, tiny_sentiment_rows, write_csv

    root = Path(root)
    cfg = tiny_run_config(root, model_dir)
    cfg["train"]["epochs"] = 6
    write_csv(root / "eval.csv", tiny_sentiment_rows(160, seed=2))
    cfg["monitor"] = monitor
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    if main(["train", str(root / "cfg.yaml"), "--no-progress"]) != 0:
        raise RuntimeError(f"the tiny monitored run in {root} did not train")
    return root / "runs" / "tiny"
