"""The privacy audit end to end on a tiny model: `run` writes audit/privacy.json and the report shows
the ROC; `audit --only privacy` prints the attack's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fairtune.cli import main

pytestmark = pytest.mark.integration


def test_run_audits_membership_and_reports_it(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fairtune.testing import tiny_sentiment_rows, write_csv

    write_csv(tmp_path / "train.csv", tiny_sentiment_rows(96, seed=1))
    write_csv(tmp_path / "eval.csv", tiny_sentiment_rows(40, seed=2))
    cfg = {
        "name": "priv",
        "output_dir": str(tmp_path / "runs"),
        "seed": 7,
        "data": {"train": str(tmp_path / "train.csv"), "eval": str(tmp_path / "eval.csv"), "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {"epochs": 4, "batch_size": 8, "lr": 2e-3, "warmup_ratio": 0.1, "precision": "fp32"},
        "audit": {
            "fairness": {"enabled": False},
            "robustness": {"enabled": False},
            "explain": {"enabled": False},
        },
        "gates": {"privacy.mia_auc": {"max": 0.99}},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(tmp_path / "cfg.yaml"), "--no-progress"]) == 0
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
