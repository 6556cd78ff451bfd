"""Fairness end to end on a tiny model: `run` audits and gates, `audit` alone, `mitigate` cda and clp.

The training data carries a planted bias (a quarter of the rows are labelled by "men"/"women"
alone), so the parent must show counterfactual flips and each mitigation must remove most of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fairtune.cli import main
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.integration
EEC = SHARED_DATA / "eec" / "Equity-Evaluation-Corpus.csv"


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    from fairtune.testing import tiny_biased_rows, write_csv

    root = tmp_path_factory.mktemp("fair")
    header = ("text", "label", "grp")
    write_csv(root / "train.csv", [(t, lab, "a") for t, lab in tiny_biased_rows(160, seed=1)], header)
    rows = tiny_biased_rows(64, seed=2)
    write_csv(root / "eval.csv", [(t, lab, "a" if i % 3 else "b") for i, (t, lab) in enumerate(rows)], header)
    cfg = {
        "name": "biased",
        "output_dir": str(root / "runs"),
        "seed": 7,
        "data": {"train": str(root / "train.csv"), "eval": str(root / "eval.csv"), "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {"epochs": 15, "batch_size": 8, "lr": 3e-3, "warmup_ratio": 0.1, "precision": "fp32"},
        "audit": {"fairness": {"permutations": 200, "bootstrap": 200, "group_bootstrap": 30}},
        "gates": {"fairness.flip_rate": {"max": 0.2}, "fairness.eec_lexicon_overlap": {"max": 0}},
    }
    cfg["data"]["group_column"] = "grp"
    if EEC.is_file():
        cfg["audit"]["fairness"]["eec"] = str(EEC)
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(root / "cfg.yaml"), "--no-progress"]) == 3  # the flip-rate gate fails
    return root / "runs" / "biased"


def test_run_audits_fairness_and_gates_on_it(parent: Path) -> None:
    doc = json.loads((parent / "audit" / "fairness.json").read_text())
    assert doc["schema"] == "fairtune/audit/v1" and doc["auditor"] == "fairness"
    assert doc["metrics"]["flip_rate_gender"] >= 0.5  # the planted bias is found
    assert doc["details"]["groups"]["column"] == "grp"
    gates = {g["metric"]: g for g in json.loads((parent / "gates.json").read_text())["gates"]}
    assert not gates["fairness.flip_rate"]["passed"]
    if EEC.is_file():
        assert (
            gates["fairness.eec_lexicon_overlap"]["passed"]
            and gates["fairness.eec_lexicon_overlap"]["value"] == 0
        )
    html = (parent / "report.html").read_text()
    assert "Counterfactual identity swaps" in html and "Template probes" in html and "Group metrics" in html
    card = (parent / "model" / "README.md").read_text()
    assert "Fairness-related harms across identity groups: assessed" in card


def test_audit_verb_alone(parent: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(parent), "--only", "fairness", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fairness"]["metrics"]["flip_rate_gender"] >= 0.5
    assert main(["audit", str(parent), "--only", "nope"]) == 2
    assert "--only: unknown auditor 'nope'. Available: fairness" in capsys.readouterr().err
    assert main(["audit", str(parent)]) == 0
    out = capsys.readouterr().out
    assert "counterfactual identity swaps" in out and "gender" in out


@pytest.mark.parametrize("method", ["cda", "clp"])
def test_mitigation_removes_the_planted_bias(
    parent: Path, method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mitigate", str(parent), "--fairness", method, "--seeds", "2", "--no-progress"]) == 0
    child = parent / "mitigate" / f"fairness-{method}"
    doc = json.loads((child / "mitigation.json").read_text())
    assert doc["seeds"] == [7, 8]
    assert doc["parent_runs"][1].endswith("biased/seeds/seed-8") and doc["child_runs"][1].endswith(
        f"fairness-{method}/seeds/seed-8"
    )
    rows = {r["metric"]: r for r in doc["comparison"]}
    flip = rows["fairness.flip_rate"]
    assert len(flip["parent_values"]) == len(flip["child_values"]) == 2
    assert flip["parent"] >= 0.5 and flip["child"] <= 0.25
    # over two seeds the drop is larger than the seed-to-seed spread: its interval excludes 0
    assert flip["diff_ci95"][1] < 0 and flip["verdict"] == "improved" and flip["improved"]
    assert doc["train_seconds"]["ratio"] > 0 and len(doc["train_seconds"]["parent"]["values"]) == 2
    # the gender-only quarter of eval becomes a coin toss; the rest must still be right
    assert rows["eval.accuracy"]["child"] >= 0.8
    info = doc["counterfactual"]
    assert info["method"] == method and info["texts_with_terms"] >= 40
    assert (info["copies_added"] > 0) == (method == "cda") and (info["pairs"] > 0) == (method == "clp")
    child_cfg = yaml.safe_load((child / "config.yaml").read_text())
    assert child_cfg["train"]["counterfactual"]["method"] == method
    out = capsys.readouterr().out
    assert f"fairness mitigation '{method}', 2 seeds" in out and "95% CI" in out
    html = (parent / "report.html").read_text()
    assert "Mitigations" in html and f"fairness-{method}" in html
    # a second call reuses the trained child and only re-audits
    assert main(["mitigate", str(parent), "--fairness", method, "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "already trained with this config; not training it again" in captured.err
    assert f"fairness mitigation '{method}', 1 seed" in captured.out
    one = json.loads((child / "mitigation.json").read_text())  # one seed: never called an improvement
    assert {r["verdict"] for r in one["comparison"]} == {"one seed: retraining noise not measured"}
    assert not any(r["improved"] for r in one["comparison"])


def test_tying_makes_swaps_of_the_tied_terms_change_nothing(parent: Path) -> None:
    args = ["--fairness", "tie", "--dimensions", "gender"]
    assert main(["mitigate", str(parent), *args, "--no-progress"]) == 0
    child = parent / "mitigate" / "fairness-tie-gender"
    doc = json.loads((child / "mitigation.json").read_text())
    assert doc["tie_terms"]["groups"] >= 1 and doc["tie_terms"]["embeddings_train"] is True
    rows = {r["metric"]: r for r in doc["comparison"]}
    # the planted bias rides on men / women, one-wordpiece terms of one swap set: no swap can flip now
    assert rows["fairness.flip_rate"]["parent"] >= 0.5 and rows["fairness.flip_rate"]["child"] == 0
    assert yaml.safe_load((child / "config.yaml").read_text())["train"]["tie_terms"] == {
        "dimensions": ["gender"],
        "lexicon_dir": None,
        "pronouns": False,
    }


def test_identity_balance_adds_template_sentences(parent: Path) -> None:
    args = ["--fairness", "balance", "--dimensions", "gender", "--balance-per-phrase", "1"]
    assert main(["mitigate", str(parent), *args, "--no-progress"]) == 0
    child = parent / "mitigate" / "fairness-balance-bpp1-gender"
    doc = json.loads((child / "mitigation.json").read_text())
    info = doc["identity_balance"]
    assert info["dimensions"] == ["gender"] and info["sentences_added"] > 0 and info["positive_share"] == 0.5
    assert yaml.safe_load((child / "config.yaml").read_text())["train"]["identity_balance"]["per_phrase"] == 1
    assert "fairness.identity_fped" in {r["metric"] for r in doc["comparison"]}


def test_a_sweep_chooses_the_setting_on_a_validation_split_of_the_training_rows(
    parent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--fairness", "both", "--dimensions", "gender", "--sweep", "clp_lambda=0.5,3"]
    assert main(["mitigate", str(parent), *args, "--validation-share", "0.25", "--no-progress"]) == 0
    (child,) = (parent / "mitigate").glob("fairness-both-clp*")  # named after its value
    sweep = json.loads((child / "mitigation.json").read_text())["sweep"]
    assert child.name == f"fairness-both-clp{sweep['chosen']:g}-gender"
    assert sweep["key"] == "clp_lambda" and sweep["rows"] == {"train": 120, "validation": 40}
    assert [p["value"] for p in sweep["points"]] == [0.5, 3.0] and sweep["chosen"] in (0.5, 3.0)
    assert "fairness.identity_fped" in sweep["harms"] and "eval.accuracy" in sweep["baseline"]["metrics"]
    within = [p for p in sweep["points"] if p["within_budget"]]
    chosen = next(p for p in sweep["points"] if p["value"] == sweep["chosen"])
    if within:  # the rule: the least harmful value among those within the accuracy budget
        assert "lowest mean harm" in sweep["rule"]
        assert chosen["relative_harm"] == min(p["relative_harm"] for p in within)
    else:  # or, with none within it, the most accurate
        assert "no candidate within" in sweep["rule"]
        assert chosen["metrics"]["eval.accuracy"] == max(
            p["metrics"]["eval.accuracy"] for p in sweep["points"]
        )
    # every sweep run trained on part of the training rows and was evaluated on the rest, never on eval
    parent_cfg = yaml.safe_load((parent / "config.yaml").read_text())
    train_texts = set(pd.read_csv(parent_cfg["data"]["train"])["text"])
    folder = Path(sweep["baseline"]["run"]).parent
    part = {
        n: [json.loads(line)["text"] for line in (folder / "data" / f"{n}.jsonl").open()]
        for n in ("train", "validation")
    }
    assert sorted(part["train"] + part["validation"]) == sorted(
        pd.read_csv(parent_cfg["data"]["train"])["text"]
    )
    assert len(part["validation"]) == 40 and set(part["validation"]) <= train_texts
    for run in [sweep["baseline"]["run"], *(p["run"] for p in sweep["points"])]:
        data = yaml.safe_load((Path(run) / "config.yaml").read_text())["data"]
        assert data["train"] == str(folder / "data" / "train.jsonl")
        assert data["eval"] == str(folder / "data" / "validation.jsonl") and (Path(run) / "audit").is_dir()
    # the mitigation itself then trains with the chosen value on all the rows, evaluated on eval
    child_cfg = yaml.safe_load((child / "config.yaml").read_text())
    assert child_cfg["train"]["counterfactual"]["clp_lambda"] == sweep["chosen"]
    assert child_cfg["data"]["eval"] == parent_cfg["data"]["eval"]
    assert f"sweep chose clp_lambda={sweep['chosen']:g}" in capsys.readouterr().err
    # the same command again reuses every run of the sweep and the child, and chooses the same value
    assert main(["mitigate", str(parent), *args, "--validation-share", "0.25", "--no-progress"]) == 0
    assert json.loads((child / "mitigation.json").read_text())["sweep"]["chosen"] == sweep["chosen"]
    assert capsys.readouterr().err.count("already trained with this config") == 4  # 3 sweep runs + child


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fairness", "clp", "--sweep", "clp_lambda=-1,1"], "train.counterfactual.clp_lambda"),
        (["--fairness", "clp", "--sweep", "steps=1,2"], "'steps' cannot be swept with --fairness"),
        (["--fairness", "cda", "--sweep", "clp_lambda=1,2"], "clp_lambda does not change --fairness cda"),
        (["--robustness", "adv", "--sweep", "steps=1,3"], "steps does not change --robustness adv"),
        (["--fairness", "clp", "--sweep", "clp_lambda=1,inf"], "is not KEY=V1,V2,..."),
        (["--fairness", "cda", "--seeds", "0"], "mitigate.seeds (--seeds): 0 is not a number of seeds"),
        (["--fairness", "clp", "--clp-lambda", "-1"], "train.counterfactual.clp_lambda"),
        (["--fairness", "clp", "--template-pairs", "5000"], "train.counterfactual.template_pairs"),
        (["--fairness", "balance", "--balance-per-phrase", "0"], "train.identity_balance.per_phrase"),
        (["--robustness", "a2t", "--a2t-share", "1.5"], "train.attack.share"),
        (["--robustness", "both", "--a2t-start", "1"], "train.attack.start"),
        (["--robustness", "adv", "--a2t-start", "0.5"], "--a2t-start does nothing with --robustness adv"),
        (["--robustness", "a2t", "--epsilon", "0.2"], "It is an option of adv, both"),
        (
            ["--robustness", "adv", "--sweep", "a2t_start=0.1,0.5"],
            "a2t_start does not change --robustness adv",
        ),
        (["--robustness", "a2t", "--sweep", "a2t_start=0.1,-0.5"], "train.attack.start"),
        (["--fairness", "cda", "--dimensions", "height"], "no lexicon for dimension 'height'"),
        (["--fairness", "cda", "--word-recognition"], "--word-recognition is a robustness option"),
        (["--robustness", "adv", "--tie"], "--tie is a fairness option"),
        (["--fairness", "tie", "--dimensions", "height"], "train.tie_terms.dimensions"),
        (["--privacy", "dp", "--word-recognition"], "not one of --privacy dp"),
    ],
)
def test_bad_mitigation_settings_exit_2_naming_the_field_before_any_work(
    parent: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in (parent / "mitigate").glob("*")) if (parent / "mitigate").is_dir() else []
    assert main(["mitigate", str(parent), *args, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    after = sorted(p.name for p in (parent / "mitigate").glob("*")) if (parent / "mitigate").is_dir() else []
    assert before == after  # nothing was trained or written


def test_templates_without_a_slot_and_lexicons_in_the_audit_templates_exit_2(
    parent: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = yaml.safe_load((parent / "config.yaml").read_text())
    cfg.pop("versions", None)
    no_slot = tmp_path / "no_slot.tsv"
    no_slot.write_text("positive\tA fine film.\n")
    lexdir = tmp_path / "lex"
    lexdir.mkdir()
    (lexdir / "gender.tsv").write_text("# source: test\n@groups\tmale\tfemale\nsmile\tgrin\n")
    cfg["train"]["counterfactual"] = {"method": "clp", "templates": str(no_slot)}
    cfg["audit"]["fairness"].update(lexicon_dir=str(lexdir), dimensions=["gender"])
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "train.counterfactual.templates" in err and "has 0 {x} slots" in err
    # "smile" is a term of this lexicon and a word of the packaged evaluation template "{x} has a warm smile."
    assert "audit.fairness.identity_templates" in err and "'smile'" in err


def test_mitigate_needs_a_choice_and_a_trained_run(parent: Path, tmp_path: Path, capsys) -> None:
    assert main(["mitigate", str(parent)]) == 2
    assert "choose one mitigation, e.g. --fairness cda" in capsys.readouterr().err
    assert main(["mitigate", str(tmp_path / "nope"), "--fairness", "cda"]) == 2
    assert "nope" in capsys.readouterr().err


def test_missing_audit_inputs_stop_run_before_training(tmp_path: Path, tiny_config: dict, capsys) -> None:
    raw = {
        **tiny_config,
        "audit": {"fairness": {"eec": str(tmp_path / "no-eec.csv"), "dimensions": ["caste"]}},
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    assert main(["run", str(tmp_path / "bad.yaml"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "2 problem(s) found; nothing was run" in err
    assert "audit.fairness.eec: file not found" in err and "no lexicon for dimension 'caste'" in err
    assert not (Path(tiny_config["output_dir"]) / "tiny").exists()
    assert main(["validate", str(tmp_path / "bad.yaml")]) == 2
    assert "audit.fairness.eec: file not found" in capsys.readouterr().err
