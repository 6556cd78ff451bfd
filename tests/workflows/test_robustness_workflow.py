"""Robustness end to end on a tiny model: `run` audits it, `mitigate --robustness adv|a2t|augment`
re-audits children with the parent's attack sample and constraints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fairtune.cli import main

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/share/wordnet/data.noun").is_file(), reason="wordnet-base not installed"
    ),
]


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    from fairtune.testing import tiny_sentiment_rows, write_csv

    root = tmp_path_factory.mktemp("robust")
    write_csv(root / "train.csv", tiny_sentiment_rows(96, seed=1))
    write_csv(root / "eval.csv", tiny_sentiment_rows(32, seed=2))
    cfg = {
        "name": "rob",
        "output_dir": str(root / "runs"),
        "seed": 7,
        "data": {"train": str(root / "train.csv"), "eval": str(root / "eval.csv"), "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {"epochs": 10, "batch_size": 8, "lr": 1e-2, "warmup_ratio": 0.1, "precision": "fp32"},
        "audit": {"fairness": {"enabled": False}, "robustness": {"sample": 20, "max_change": 0.5}},
        "gates": {"robustness.attack_success_rate": {"max": 1.0}},
    }
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(root / "cfg.yaml"), "--no-progress"]) == 0
    return root / "runs" / "rob"


def test_run_writes_the_robustness_audit(parent: Path) -> None:
    doc = json.loads((parent / "audit" / "robustness.json").read_text())
    assert not (parent / "audit" / "fairness.json").exists()  # disabled in the config
    attack = doc["details"]["attack"]
    assert attack["n"] == 20 and attack["sample"]["size"] == 20
    assert attack["constraints"]["max_words_changed_share"] == 0.5
    assert attack["constraints"]["min_sentence_similarity"] == 0.85
    assert "typo_drop" in doc["details"]["invariance"]["perturbations"]
    html = (parent / "report.html").read_text()
    assert "robustness.attack_success_rate" in html


@pytest.mark.parametrize(
    ("method", "extra", "name"),
    [
        ("adv", ["--epsilon", "0.05"], "robustness-adv-eps0.05"),
        ("augment", ["--augment-examples", "40"], "robustness-augment"),
        (
            "a2t",
            [
                "--a2t-share",
                "0.5",
                "--a2t-start",
                "0.5",
                "--a2t-ranking",
                "gradient",
                "--a2t-consistency",
                "2",
            ],
            "robustness-a2t-a2t0.5-start0.5-grad-kl2",
        ),
        ("adv", ["--word-recognition"], "robustness-adv-wr"),
    ],
)
def test_mitigation_children_are_reaudited_on_the_same_sample(
    parent: Path, method: str, extra: list[str], name: str
) -> None:
    assert main(["mitigate", str(parent), "--robustness", method, "--no-progress", *extra]) == 0
    child = parent / "mitigate" / name
    doc = json.loads((child / "mitigation.json").read_text())
    assert doc["kind"] == "robustness" and doc["method"] == method
    metrics = {r["metric"] for r in doc["comparison"]}
    assert {
        "eval.accuracy",
        "robustness.attack_success_rate",
        "robustness.invariance_failure_rate",
    } <= metrics
    p_attack = json.loads((parent / "audit" / "robustness.json").read_text())["details"]["attack"]
    c_attack = json.loads((child / "audit" / "robustness.json").read_text())["details"]["attack"]
    assert c_attack["sample"] == p_attack["sample"] and c_attack["constraints"] == p_attack["constraints"]
    cfg = yaml.safe_load((child / "config.yaml").read_text())
    if "--word-recognition" in extra:  # the front end: saved with the model, its dictionary from train
        assert cfg["model"]["word_recognition"] == {"min_count": 2, "max_edit_distance": 2, "min_length": 3}
        assert (child / "model" / "word_recognition.json").is_file()
        info = json.loads((child / "metrics.json").read_text())["train"]["word_recognition"]
        assert info["dictionary"] > 10 and info["eval_texts_changed"] == 0  # eval uses the training words
    elif method == "adv":
        assert cfg["train"]["adversarial"]["epsilon"] == 0.05 and doc["augmentation"] is None
    elif method == "a2t":
        assert cfg["train"]["attack"]["share"] == 0.5 and cfg["train"]["attack"]["start"] == 0.5
        assert cfg["train"]["attack"]["ranking"] == "gradient" and cfg["train"]["attack"]["consistency"] == 2
        steps = json.loads((child / "metrics.json").read_text())["train"]["steps"]
        assert doc["attack"]["first_step"] == int(0.5 * steps) > 0  # training used the start it was given
        assert doc["augmentation"] is None
        attack = doc["attack"]  # what training recorded: texts attacked and copies trained on
        assert attack["attacked"] > 0 and attack["perturbed_copies"] > 0
        assert attack["adversarial_copies"] <= attack["attacked"]
        assert attack["mean_divergence"] > 0  # the consistency term was on
    else:
        aug = doc["augmentation"]
        assert aug["train_texts_sampled"] == 40 and aug["perturbed_added"] > 0
        rows = (child / "augment.jsonl").read_text().splitlines()
        assert len(rows) == aug["adversarial_added"] + aug["perturbed_added"]
        eval_texts = set((parent.parent.parent / "eval.csv").read_text().splitlines())
        assert not any(json.loads(r)["text"] in eval_texts for r in rows)  # never from the eval set
        assert cfg["data"]["extra_train"].endswith("augment.jsonl")


def test_a_parent_audit_of_another_auditor_version_is_redone_before_the_comparison(
    parent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The child is compared with what today's auditor says of the parent: a parent document without
    provenance (or of other code) is audited again, a current one is kept."""
    path = parent / "audit" / "robustness.json"
    doc = json.loads(path.read_text())
    assert doc["provenance"]["code"] and doc["provenance"]["settings"]  # `run` recorded what wrote it
    doc.pop("provenance")
    doc["metrics"]["attack_success_rate"] = 0.123456  # what an older auditor might have said
    path.write_text(json.dumps(doc))
    argv = ["mitigate", str(parent), "--robustness", "adv", "--epsilon", "0.05", "--no-progress"]
    assert main(argv) == 0  # the child exists: nothing is trained, both sides are audited
    log = capsys.readouterr().err  # mitigate logs on stderr
    assert f"auditing {parent} (robustness; audit/robustness.json: written before audit documents" in log
    redone = json.loads(path.read_text())
    assert redone["provenance"] and redone["metrics"]["attack_success_rate"] != 0.123456
    assert main(argv) == 0
    log = capsys.readouterr().err
    assert f"running on {parent / 'mitigate'}" in log  # the child is audited, as always...
    assert f"auditing {parent} (" not in log and f"running on {parent}\n" not in log  # ...the parent is not
