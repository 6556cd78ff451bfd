"""The real packaged MiniLM, fine-tuned for a few steps on real SST-2 rows, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairtune.cli import main

pytestmark = pytest.mark.slow
PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("config", ["sst2-minilm.yaml", "sst2-minilm-lora.yaml"], ids=["full", "lora"])
def test_shipped_config_learns_sst2_in_a_few_steps(
    tmp_path: Path, config: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(PROJECT)  # shipped configs name ../shared/data relative to the project root
    argv = [
        "train",
        f"configs/{config}",
        "--no-progress",
        f"output_dir={tmp_path}",
        "name=slow",
        "data.max_train_rows=1280",
        "data.max_eval_rows=256",
        "train.eval_every=null",
        "train.epochs=1",
    ]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "slow/metrics.json").read_text())
    assert metrics["train"]["steps"] == 40
    assert metrics["eval"]["n"] == 256
    assert metrics["eval"]["accuracy"] >= 0.70  # chance is ~0.5; the few-step runs measured ~0.8
    assert main(["predict", str(tmp_path / "slow"), "a wonderful, moving film", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(out)["label"] == "positive"
    # explanations on the real model: both methods put a sentiment word first, and IG converges
    for method in ("ig", "occlusion"):
        text = "a wonderful, moving film"
        assert main(["explain", str(tmp_path / "slow"), text, "--method", method, "--json"]) == 0
        e = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert e["label"] == "positive" and e["words"] == ["a", "wonderful", ",", "moving", "film"]
        top = e["words"][max(range(5), key=lambda i: e["scores"][i])]
        assert top in ("wonderful", "moving"), e
        if method == "ig":
            assert e["convergence_delta"] < 0.05
