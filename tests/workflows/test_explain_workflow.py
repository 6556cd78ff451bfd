"""Explanations end to end on a tiny model: `run` writes audit/explain.json and the report section;
`fairtune explain` prints coloured words or JSON, and refuses bad input with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fairtune.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    from fairtune.testing import tiny_biased_rows, write_csv

    root = tmp_path_factory.mktemp("explainwf")
    # sentiment words and identity terms, so the fairness audit finds swaps for the explain audit to show
    write_csv(root / "train.csv", tiny_biased_rows(96, seed=1))
    write_csv(root / "eval.csv", tiny_biased_rows(32, seed=2))
    cfg = {
        "name": "ex",
        "output_dir": str(root / "runs"),
        "seed": 7,
        "data": {"train": str(root / "train.csv"), "eval": str(root / "eval.csv"), "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {"epochs": 10, "batch_size": 8, "lr": 2e-3, "warmup_ratio": 0.1, "precision": "fp32"},
        "audit": {
            "fairness": {"enabled": True, "dimensions": ["gender", "religion"]},
            "robustness": {"enabled": False},
            "explain": {"methods": ["ig", "occlusion"], "sample": 24, "ig_steps": 16, "stability_steps": 8},
        },
        "gates": {"explain.occlusion_comprehensiveness_ratio": {"min": 1.0}},
    }
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(root / "cfg.yaml"), "--no-progress"]) == 0
    return root / "runs" / "ex"


def test_run_writes_the_explain_audit_and_report_section(run_dir: Path) -> None:
    doc = json.loads((run_dir / "audit" / "explain.json").read_text())
    assert doc["schema"] == "fairtune/audit/v1" and doc["auditor"] == "explain"
    d, m = doc["details"], doc["metrics"]
    assert d["eval"]["sample"] == 24 and set(d["methods"]) == {"ig", "occlusion"}
    assert m["occlusion_comprehensiveness"] > m["random_comprehensiveness"]
    assert m["occlusion_sufficiency"] < m["random_sufficiency"]
    assert "ig_stability" in m and "ig_convergence_delta" in m and "occlusion_stability" not in m
    assert d["methods"]["ig"]["steps"] == 16
    kinds = {x["kind"] for x in doc["examples"]}
    assert "confident_correct" in kinds
    assert "counterfactual" in kinds  # the fairness audit ran first; its worst swap is explained
    html = (run_dir / "report.html").read_text()
    assert "faithfulness, ERASER AOPC" in html and "Words that drive each label" in html
    assert 'class="tok" style="background:rgba(' in html  # highlighted words
    summary = json.loads((run_dir / "summary.json").read_text())
    gate = next(g for g in summary["gates"]["gates"] if g["metric"].startswith("explain."))
    assert gate["passed"]
    assert "Faithfulness of token explanations: assessed" in (run_dir / "model" / "README.md").read_text()


def test_explain_json_scores_the_sentiment_word(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["explain", str(run_dir), "the movie was great", "bad story", "--method", "occlusion", "--json"])
        == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["method"] for r in rows] == ["occlusion", "occlusion"]
    first = rows[0]
    assert first["words"] == ["the", "movie", "was", "great"] and first["spans"][3] == [14, 19]
    assert first["label"] == "positive"
    assert first["words"][max(range(4), key=lambda i: first["scores"][i])] == "great"


def test_explain_prints_coloured_words_and_marks_the_cut(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_text = " ".join(["the film was great"] * 8)
    assert main(["explain", str(run_dir), long_text, "--steps", "8"]) == 0
    out = capsys.readouterr()
    assert "method=ig" in out.out and "convergence delta" in out.out
    assert "✂" in out.out and "the model reads no further" in out.out
    assert "longer than the model's maximum (16 tokens)" in out.err


def test_punctuation_is_never_a_top_word(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(run_dir), "good , film ! . ?", "--method", "occlusion"]) == 0
    top = next(line for line in capsys.readouterr().out.splitlines() if "top words:" in line)
    shown = [part.split()[0] for part in top.split("top words:", 1)[1].split(",")]
    assert shown and all(any(c.isalnum() for c in w) for w in shown), top


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["   "], "is empty"),
        (["#### !!!"], "only special characters"),
        ([], "no text given"),
        (["fine", "--steps", "1"], "--steps: must be at least 2"),
    ],
)
def test_explain_bad_input_exits_2(
    run_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], expect: str
) -> None:
    assert main(["explain", str(run_dir), *args]) == 2
    assert expect in capsys.readouterr().err


def test_audit_only_explain_prints_the_faithfulness_table(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", str(run_dir), "--only", "explain"]) == 0
    out = capsys.readouterr().out
    assert "faithfulness on 24 eval texts" in out and "random" in out and "words that drive each label" in out
