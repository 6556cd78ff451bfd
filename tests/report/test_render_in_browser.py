"""report.html in headless Chromium: a screenshot, no console errors, no network, alt text on plots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fairtune.cli import main
from fairtune.report._model_card import MEAN_POOLING_CAVEAT, WORD_RECOGNITION_CAVEAT, card_titles

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "tests" / "artifacts"


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    from fairtune.testing import tiny_sentiment_rows, write_csv

    tmp = tmp_path_factory.mktemp("report")
    raw = {
        "name": "report-demo",
        "output_dir": str(tmp / "runs"),
        "seed": 3,
        "data": {
            "train": str(write_csv(tmp / "tr.csv", tiny_sentiment_rows(96, seed=1))),
            "eval": str(write_csv(tmp / "ev.csv", tiny_sentiment_rows(40, seed=5))),
            "max_length": 16,
        },
        "model": {"name": str(tiny_model_dir), "pooling": "mean"},  # every audit runs on the mean head
        "train": {
            "epochs": 10,
            "batch_size": 8,
            "lr": 1e-2,
            "warmup_ratio": 0.1,
            "log_every": 4,
            "eval_every": 24,
        },
        "gates": {"eval.accuracy": {"min": 0.5}, "eval.ece": {"max": 0.000001}},
        "card": {"intended_use": "Tests of the report renderer."},
    }
    cfg = tmp / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["run", str(cfg), "--no-progress"]) == 3  # the ECE gate is set to fail
    return tmp / "runs" / "report-demo"


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's chromium (make setup does)")
def test_report_renders_offline_in_chromium(report_run: Path) -> None:
    from playwright.sync_api import sync_playwright

    console_errors: list[str] = []
    requests: list[str] = []
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shot = SCREENSHOT_DIR / "report.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console_errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((report_run / "report.html").as_uri(), wait_until="load")
        imgs = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.alt, e.naturalWidth, e.src.slice(0, 20)])"
        )
        headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
        fail_cells = page.eval_on_selector_all("td.fail", "els => els.map(e => e.textContent)")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert console_errors == []
    external = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert external == [], external
    assert len(imgs) == 6  # training, confusion, calibration, template probes, invariance, membership ROC
    for alt, width, src in imgs:
        assert len(alt) > 20 and width > 0 and src.startswith("data:image/svg")
    # the audits' findings come first, beside the gates' banner, so a passing gate cannot hide a warning
    assert headings == [
        "Audit findings",
        "Summary",
        "Gates",
        "Evaluation",
        "Data card",
        "Audits",
        "Configuration",
    ]
    assert any("FAIL" in c for c in fail_cells)
    assert shot.stat().st_size > 20_000


def test_the_report_shows_the_config_without_unset_keys(report_run: Path) -> None:
    html = (report_run / "report.html").read_text()
    shown = html.split('id="config"', 1)[1]
    assert "train:" in shown and ": null" not in shown
    assert ": null" in (report_run / "config.yaml").read_text()  # the run keeps every key


def test_report_html_references_nothing_external(report_run: Path) -> None:
    import re

    html = (report_run / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script" not in html and "@import" not in html


def test_model_card_has_metadata_and_every_mitchell_section(report_run: Path) -> None:
    text = (report_run / "model/README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    result = meta["model-index"][0]["results"][0]
    metrics = {m["type"]: m["value"] for m in result["metrics"]}
    summary_acc = __import__("json").loads((report_run / "metrics.json").read_text())["eval"]["accuracy"]
    assert metrics["accuracy"] == round(summary_acc, 4)
    assert meta["pipeline_tag"] == "text-classification"
    for section in (
        "Intended use",
        "Out-of-scope use",
        "Training data",
        "Evaluation data",
        "Metrics",
        "Ethical considerations",
        "Caveats and recommendations",
    ):
        assert f"\n## {section}\n" in text
    assert "Tests of the report renderer." in text
    assert "Not stated: the run's config leaves `card.out_of_scope` empty" in text
    assert "Fairness-related harms across identity groups: assessed; template_spread_max = " in text
    assert (
        "Robustness to perturbations and adversarial substitutions: assessed; invariance_failure_rate" in text
    )
    assert "Faithfulness of token explanations: assessed; ig_comprehensiveness = " in text
    assert "Leakage of training data: assessed; mia_auc = " in text
    assert "lorem" not in text.lower() and "[more information needed]" not in text.lower()
    assert MEAN_POOLING_CAVEAT in text  # how to load a mean-pooled folder


def test_model_card_loads_with_huggingface_hub(report_run: Path) -> None:
    import json

    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import eval_results_to_model_index, model_index_to_eval_results

    card = ModelCard.load(report_run / "model/README.md")
    ev = json.loads((report_run / "metrics.json").read_text())["eval"]
    on_eval = {r.metric_type: r for r in card.data.eval_results if r.dataset_split == "eval"}
    assert {t: (r.metric_name, r.metric_value) for t, r in on_eval.items()} == {
        "accuracy": ("Accuracy", round(ev["accuracy"], 4)),
        "f1": ("Macro F1", round(ev["macro_f1"], 4)),
        "ece": ("Expected calibration error (15 bins)", round(ev["ece"], 4)),
    }
    assert on_eval["f1"].metric_args == {"average": "macro"}
    assert {r.dataset_name for r in on_eval.values()} == {ev["source"]}
    # the YAML's model-index is what huggingface_hub builds from these results, and reads back to them
    meta = yaml.safe_load((report_run / "model/README.md").read_text().split("---\n")[1])
    assert meta["model-index"] == eval_results_to_model_index("report-demo", card.data.eval_results)
    assert model_index_to_eval_results(meta["model-index"]) == ("report-demo", card.data.eval_results)
    # a local base model is no hub id, and the config states no license
    assert "base_model" not in meta and "license" not in meta
    assert card.data.base_model is None and card.data.license is None
    assert meta["language"] == ["en"] and card.data.library_name == "transformers"


def test_model_card_lists_the_audits_gateable_metrics(report_run: Path) -> None:
    import json

    from huggingface_hub import ModelCard

    results = {r.metric_type: r for r in ModelCard.load(report_run / "model/README.md").data.eval_results}
    for name in ("fairness", "robustness", "privacy"):
        measured = json.loads((report_run / "audit" / f"{name}.json").read_text())["metrics"]
        for key, value in measured.items():
            gate = f"{name}.{key}"
            if not isinstance(value, int | float):
                continue
            if gate == "robustness.attack_seconds":  # a timing: the machine's, not the model's
                assert gate not in results
                continue
            assert results[gate].metric_value == pytest.approx(value, rel=1e-3)
            assert results[gate].metric_name == card_titles()[gate]
            assert results[gate].dataset_type == f"fairtune-{name}-audit"
    assert "fairness.identity_fped" in results and "privacy.mia_auc" in results
    assert not any(t.startswith("explain.") for t in results)


def test_every_gateable_fairness_robustness_privacy_metric_has_a_card_name_and_timings_none() -> None:
    from fairtune.audits import auditors

    declared = {
        f"{a}.{m.name}": m for a in ("fairness", "robustness", "privacy") for m in auditors()[a].metrics
    }
    assert set(card_titles()) == {name for name, m in declared.items() if not m.timing}
    assert "robustness.attack_seconds" in declared and "robustness.attack_seconds" not in card_titles()


def test_model_card_names_a_hub_base_model_and_the_license() -> None:
    from huggingface_hub import ModelCard

    from fairtune.config import build_config
    from fairtune.report import render_model_card

    row = {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 10}
    ev = {"source": "ev.csv", "n": 20, "labels": ["neg", "pos"], "per_class": {"neg": row, "pos": row}}
    ctx = {
        "eval": {**ev, "accuracy": 0.83456, "macro_f1": 0.81234, "ece": 0.05678},
        "train": {},
        "data_card": None,
        "audits": [{"name": "robustness", "metrics": {"attack_success_rate": 0.518433, "attack_seconds": 5}}],
        "gates": {"gates": []},
    }
    raw = {"name": "hub", "data": {"train": "tr.csv", "eval": "ev.csv"}, "card": {"license": "apache-2.0"}}
    hub = ModelCard(render_model_card(build_config({**raw, "model": {"name": "minilm", "lora": {}}}), ctx))
    assert hub.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub.data.license == "apache-2.0"
    assert hub.data.tags == ["fairtune", "text-classification", "lora", "peft"]
    assert [(r.metric_type, r.metric_value) for r in hub.data.eval_results] == [
        ("accuracy", 0.8346),
        ("f1", 0.8123),
        ("ece", 0.0568),
        ("robustness.attack_success_rate", 0.5184),
    ]
    local_cfg = build_config({**raw, "model": {"name": "./my-model"}, "card": {}})
    local = ModelCard(render_model_card(local_cfg, ctx))
    assert "base_model" not in local.data.to_dict() and "license" not in local.data.to_dict()
    assert WORD_RECOGNITION_CAVEAT not in local.text
    fronted = build_config({**raw, "model": {"name": "minilm", "word_recognition": {}}})
    assert WORD_RECOGNITION_CAVEAT in render_model_card(fronted, ctx)  # a pipeline would skip the front end


def test_report_md_and_summary(report_run: Path) -> None:
    import json

    md = (report_run / "report.md").read_text()
    assert "| eval.ece |" in md and "FAIL" in md
    summary = json.loads((report_run / "summary.json").read_text())
    assert summary["gates"]["passed"] is False
    assert "eval.accuracy" in summary["metrics"] and "data.train_eval_overlap" in summary["metrics"]
