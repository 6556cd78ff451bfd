"""The privacy audit end to end on a tiny model: `run` writes audit/privacy.json and the report shows
the ROC; `audit --only privacy` prints the attack's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fairtune.cli import main

pytestmark = pytest.mark.integration


def _privacy_only_config(tmp_path: Path, model_dir: Path, name: str, train: dict, **extra: object) -> Path:
    """Tiny train/eval CSVs and a config with only the privacy audit on, written to tmp_path/cfg.yaml."""
    from fairtune.testing import tiny_sentiment_rows, write_csv

    write_csv(tmp_path / "train.csv", tiny_sentiment_rows(96, seed=1))
    write_csv(tmp_path / "eval.csv", tiny_sentiment_rows(40, seed=2))
    audit = {"fairness": {"enabled": False}, "robustness": {"enabled": False}, "explain": {"enabled": False}}
    cfg = {
        "name": name,
        "output_dir": str(tmp_path / "runs"),
        "seed": 7,
        "data": {"train": str(tmp_path / "train.csv"), "eval": str(tmp_path / "eval.csv"), "max_length": 16},
        "model": {"name": str(model_dir)},
        "train": {"lr": 2e-3, "precision": "fp32", **train},
        "audit": {**audit, **extra.pop("audit", {})},  # type: ignore[dict-item]
        **extra,
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "cfg.yaml"


def test_run_audits_membership_and_reports_it(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _privacy_only_config(
        tmp_path,
        tiny_model_dir,
        "priv",
        {"epochs": 4, "batch_size": 8, "warmup_ratio": 0.1},
        gates={"privacy.mia_auc": {"max": 0.99}},
    )
    assert main(["run", str(cfg), "--no-progress"]) == 0
    run = tmp_path / "runs" / "priv"
    doc = json.loads((run / "audit" / "privacy.json").read_text())
    m = doc["details"]["membership"]
    assert m["members"] == m["nonmembers"] == 40
    assert 0.0 <= doc["metrics"]["mia_auc"] <= 1.0 and len(m["roc"]["fpr"]) == len(m["roc"]["tpr"])
    html = (run / "report.html").read_text()
    assert "Membership inference: ROC (log axes)" in html and "loss threshold (Yeom et al. 2018)" in html
    assert "Leakage of training data: assessed; mia_auc = " in (run / "model" / "README.md").read_text()
    capsys.readouterr()
    assert main(["audit", str(run), "--only", "privacy"]) == 0
    assert "AUC (0.5: cannot tell)" in capsys.readouterr().out

    # Audit settings change for an existing run, and are saved with it; training settings are refused.
    versions = yaml.safe_load((run / "config.yaml").read_text())["versions"]
    assert main(["audit", str(run), "--only", "privacy", "audit.privacy.sample=24"]) == 0
    m = json.loads((run / "audit" / "privacy.json").read_text())["details"]["membership"]
    assert m["members"] == m["nonmembers"] == 24
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["audit"]["privacy"]["sample"] == 24 and stored["versions"] == versions
    capsys.readouterr()
    assert main(["audit", str(run), "--only", "privacy", "train.lr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "'train.lr'" in err and "fairtune train CONFIG train.lr=0.1" in err
    assert main(["audit", str(run), "audit.privacy.sample=many"]) == 2
    assert "audit.privacy.sample" in capsys.readouterr().err
    assert main(["audit", str(run), "--only", "privacy", "audit.fairness.enabled=true"]) == 2
    assert "--only fairness" in capsys.readouterr().err
    assert yaml.safe_load((run / "config.yaml").read_text()) == stored
    # `run` with the original config sees other audit settings than the last audit's, and redoes it.
    assert main(["run", str(cfg), "--no-progress"]) == 0
    m = json.loads((run / "audit" / "privacy.json").read_text())["details"]["membership"]
    assert m["members"] == 40
    assert yaml.safe_load((run / "config.yaml").read_text())["audit"]["privacy"]["sample"] != 24


def test_dp_run_with_canaries_and_a_reference_model(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`fairtune run` with train.privacy and train.canaries, audited with a reference model: the audit
    holds all three attacks and the guarantee, and the report and model card say what each means."""
    from fairtune.testing import tiny_sentiment_rows, write_csv

    write_csv(tmp_path / "ref.csv", tiny_sentiment_rows(48, seed=3))
    cfg = _privacy_only_config(
        tmp_path,
        tiny_model_dir,
        "dp",
        {
            "epochs": 2,
            "batch_size": 24,
            # the top layer only, as bench/configs/sst2-minilm-dp.yaml: trained on cached frozen states
            "privacy": {"epsilon": 20, "accountant": "rdp", "physical_batch_size": 8, "trainable_layers": 1},
            "canaries": {"per_repeat": 2, "repeats": [1, 4], "references": 20},
        },
        audit={"privacy": {"reference_data": str(tmp_path / "ref.csv"), "reference_epochs": 2}},
        gates={"train.dp_epsilon": {"max": 20}, "privacy.dp_epsilon": {"max": 20}},
    )
    assert main(["run", str(cfg), "--no-progress"]) == 0
    run = tmp_path / "runs" / "dp"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["n_train"] == 96 + 2 * (1 + 4)  # the canary rows went into training
    assert metrics["train"]["privacy"]["frozen_cache"]["used"] is True
    doc = json.loads((run / "audit" / "privacy.json").read_text())
    assert doc["details"]["membership"]["members"] == 40  # members are real training texts only
    assert set(doc["details"]["canaries"]["by_repeats"]) == {"1", "4"}
    assert doc["details"]["calibrated"]["reference_data"] == str(tmp_path / "ref.csv")
    assert (run / "audit" / "privacy-reference" / "model" / "config.json").is_file()
    ref_train = yaml.safe_load((run / "audit" / "privacy-reference" / "config.yaml").read_text())["train"]
    assert ref_train["privacy"] is None and ref_train["lr"] == 5e-5  # not DP's rate, which diverges here
    assert doc["metrics"]["dp_epsilon"] == metrics["train"]["dp_epsilon"] <= 20
    html = (run / "report.html").read_text()
    for text in (
        "The guarantee beside the measurements",
        "calibrated by a reference model",
        "times inserted",
    ):
        assert text in html
    card = (run / "model" / "README.md").read_text()
    assert "Differential privacy: DP-SGD through opacus" in card and "Canaries: 4 made-up texts" in card
    # the second audit reuses the reference model
    stamp = (run / "audit" / "privacy-reference" / "model" / "model.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["audit", str(run), "--only", "privacy"]) == 0
    assert (run / "audit" / "privacy-reference" / "model" / "model.safetensors").stat().st_mtime_ns == stamp


def test_unreachable_epsilon_exits_2_before_training(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fairtune.testing import tiny_sentiment_rows, write_csv

    write_csv(tmp_path / "train.csv", tiny_sentiment_rows(96, seed=1))
    cfg = {
        "name": "tiny-eps",
        "output_dir": str(tmp_path / "runs"),
        "data": {"train": str(tmp_path / "train.csv"), "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {"epochs": 1, "batch_size": 8, "privacy": {"epsilon": 0.001, "accountant": "rdp"}},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "cfg.yaml")]) == 2
    assert "train.privacy.epsilon: 0.001 cannot be reached" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "cfg.yaml"), "--no-progress"]) == 2
    assert "The smallest ε that works here is" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "tiny-eps" / "checkpoints").exists()


def test_mitigate_privacy_dp_retrains_with_dp_and_compares_the_leakage(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _privacy_only_config(tmp_path, tiny_model_dir, "parent", {"epochs": 3, "batch_size": 8})
    assert main(["run", str(cfg), "--no-progress"]) == 0
    parent = tmp_path / "runs" / "parent"
    capsys.readouterr()
    argv = ["mitigate", str(parent), "--privacy", "dp", "--dp-epsilon", "20", "--dp-batch-size", "24"]
    assert main([*argv, "--no-progress"]) == 0
    child = parent / "mitigate" / "privacy-dp"
    doc = json.loads((child / "mitigation.json").read_text())
    assert doc["privacy"]["epsilon"] == 20 and doc["privacy"]["expected_batch_size"] == 24
    assert {"eval.accuracy", "privacy.mia_auc", "train.samples_per_second"} <= {
        r["metric"] for r in doc["comparison"]
    }
    assert "privacy.mia_auc" in capsys.readouterr().out
    assert "DP-SGD: ε = " in (parent / "report.html").read_text()


@pytest.mark.parametrize(
    ("lora", "reference_lr", "expected"),
    [(False, None, 5e-5), (True, None, 2e-3), (False, 1e-4, 1e-4), (True, 1e-4, 1e-4)],
)
def test_the_reference_model_trains_without_dp_at_a_rate_that_suits_it(
    tmp_path: Path, tiny_model_dir: Path, lora: bool, reference_lr: float | None, expected: float
) -> None:
    """DP's rate would make plain fine-tuning of every weight diverge, so a full-weights reference gets the
    default 5e-5; LoRA adapters keep the run's rate (at 5e-5 a LoRA reference learned nothing on SST-2)."""
    from fairtune._rundir import RunDir
    from fairtune.audits.privacy._reference import privacy_reference_config
    from fairtune.config import load_config

    extra: dict[str, object] = {"model": {"name": str(tiny_model_dir), "lora": {"r": 4}}} if lora else {}
    path = _privacy_only_config(
        tmp_path,
        tiny_model_dir,
        "dp",
        {"privacy": {"epsilon": 8}, "batch_size": 64},
        audit={"privacy": {"reference_data": str(tmp_path / "eval.csv"), "reference_lr": reference_lr}},
        **extra,
    )
    cfg = load_config(path)
    ref = privacy_reference_config(RunDir(tmp_path / "runs" / "dp"), cfg)
    assert ref.train.lr == expected and ref.train.privacy is None and ref.train.batch_size == 32
    assert ref.data.train == str(tmp_path / "eval.csv") and ref.train.canaries is None
