"""One battery over every registered auditor and every kind of model (peft's `PeftCommonTester` is the
model): a torch classifier, its ONNX export, a keyword black box and a scikit-learn pipeline.

For each pair: every metric written is declared by the auditor's registration (so gates, comparisons and
the model card know it), the non-timing metrics are the same when the audit runs twice under the same
seeds, and findings are well formed. Plus: every hand-kept list of metric names agrees with the
declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairtune.audits import AuditContext, auditors, classifier_auditors
from fairtune.testing import NEGATIVE, POSITIVE, tiny_biased_rows

LABELS = ["negative", "positive"]
#: small samples: the battery checks contracts, not numbers
SETTINGS = {
    "fairness": {"max_eval_rows": 40},
    "robustness": {"sample": 12, "max_eval_rows": 40, "min_similarity": None},
    "explain": {"sample": 4, "ig_steps": 8, "stability_steps": 4, "shap_max_evals": 20},
    "privacy": {"sample": 16},
}


def keyword_proba(texts: list[str]) -> np.ndarray:
    """A black box: p(positive) from counts of sentiment words."""
    score = np.array(
        [sum(w in POSITIVE for w in t.split()) - sum(w in NEGATIVE for w in t.split()) for t in texts]
    )
    p = 1 / (1 + np.exp(-1.5 * score))
    return np.stack([1 - p, p], axis=1)


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, str]]:
    return tiny_biased_rows(160, seed=3)


@pytest.fixture(scope="module")
def torch_model_dir(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str]]) -> Path:
    """A tiny BERT with a (seeded, untrained) classification head, saved as a fairtune model folder."""
    import torch
    from transformers import BertForSequenceClassification, BertTokenizer

    from fairtune.models import save_model
    from fairtune.testing import make_tiny_bert

    base = make_tiny_bert(tmp_path_factory.mktemp("battery-bert"))
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)}
    )
    out = tmp_path_factory.mktemp("battery-clf") / "model"
    save_model(model, BertTokenizer.from_pretrained(base), out)
    return out


def _torch(model_dir: Path, rows: list[tuple[str, str]]) -> Any:
    from fairtune.models import TorchClassifier

    return TorchClassifier.from_dir(model_dir, batch_size=32, max_length=16, precision="fp32")


def _onnx(model_dir: Path, rows: list[tuple[str, str]]) -> Any:
    from fairtune.compress._variants import build_onnx, load_variant

    root = model_dir.parent
    if not (root / "onnx").is_dir():
        build_onnx(
            model_dir, root, max_length=16, calibration_texts=[r[0] for r in rows[:16]], names=["onnx"]
        )
    return load_variant(root / "onnx", batch_size=32, max_length=16)


def _keyword(model_dir: Path, rows: list[tuple[str, str]]) -> Any:
    import fairtune as ft

    return ft.classifier(keyword_proba, labels=LABELS)


def _sklearn(model_dir: Path, rows: list[tuple[str, str]]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import fairtune as ft

    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(random_state=0))
    return ft.classifier(pipe.fit([t for t, _ in rows], [label for _, label in rows]))


KINDS: dict[str, Callable[[Path, list[tuple[str, str]]], Any]] = {
    "torch": _torch,
    "onnx": _onnx,
    "keyword": _keyword,
    "sklearn": _sklearn,
}


def _context(clf: Any, rows: list[tuple[str, str]]) -> AuditContext:
    from fairtune.config import build_config
    from fairtune.data import labelled_data

    cfg = build_config({"name": "battery", "audit": SETTINGS})
    half = len(rows) // 2
    train = labelled_data(([t for t, _ in rows[:half]], [y for _, y in rows[:half]]), clf.labels)
    ev = labelled_data(([t for t, _ in rows[half:]], [y for _, y in rows[half:]]), clf.labels)
    return AuditContext(clf, ev, cfg, train=train, log=lambda m: None)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("auditor", classifier_auditors())
def test_every_auditor_on_every_kind_of_model(
    auditor: str, kind: str, torch_model_dir: Path, rows: list[tuple[str, str]]
) -> None:
    spec = auditors()[auditor]
    clf = KINDS[kind](torch_model_dir, rows)
    first = spec(_context(clf, rows)).to_json()
    again = spec(_context(clf, rows)).to_json()

    written = set(first["metrics"])
    assert written, f"{auditor} wrote no metric on a {kind} model"
    assert written <= set(spec.metric_names()), f"undeclared: {sorted(written - set(spec.metric_names()))}"
    steady = [m.name for m in spec.metrics if not m.timing and m.name in written]
    assert {k: first["metrics"][k] for k in steady} == pytest.approx({k: again["metrics"][k] for k in steady})
    assert all(f["severity"] in ("info", "warning", "fail") and f["message"] for f in first["findings"])
    assert first["auditor"] == auditor


def test_white_box_methods_are_skipped_with_the_reason_on_a_black_box(rows: list[tuple[str, str]]) -> None:
    ctx = _context(_keyword(Path(), rows), rows)
    ctx.config.audit.explain.methods = ["ig", "occlusion"]
    doc = auditors()["explain"](ctx).to_json()
    assert (
        not any(k.startswith("ig_") for k in doc["metrics"])
        and "occlusion_comprehensiveness" in doc["metrics"]
    )
    skipped = [f for f in doc["findings"] if f.get("check") == "white_box"]
    assert (
        len(skipped) == 1
        and "ig skipped" in skipped[0]["message"]
        and "CallableClassifier" in skipped[0]["message"]
    )


# --- the declarations are the one list ------------------------------------------------------------


def declared() -> dict[str, Any]:
    return {f"{a}.{m.name}": m for a, spec in auditors().ordered() for m in spec.metrics}


def test_metric_names_are_unique_and_gates_accept_exactly_the_declared_ones() -> None:
    from fairtune.config import all_metric_names
    from fairtune.config._metrics import STAGE_METRICS

    for _, spec in auditors().ordered():
        assert len(spec.metric_names()) == len(set(spec.metric_names())), spec.name
    stage = {f"{s}.{m}" for s, names in STAGE_METRICS.items() for m in names}
    assert set(all_metric_names()) == stage | set(declared())


def test_every_hand_kept_metric_list_names_declared_metrics_with_their_direction() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import fairness as bench_fairness  # bench/fairness.py
    import robustness as bench_robustness  # bench/robustness.py
    from fairtune.cli._audit import printers
    from fairtune.config import all_metric_names
    from fairtune.report._render import FAIRNESS_PLOTTED
    from fairtune.workflows.compress import reaudited
    from fairtune.workflows.mitigate import STAGE_ROWS, compared_metrics

    d = declared()
    assert all(d[m].lower_is_better is True for m in FAIRNESS_PLOTTED), "the plot says lower is better"
    for kind in STAGE_ROWS:
        for metric, lower in compared_metrics(kind):
            assert metric in all_metric_names()
            if metric in d:
                assert d[metric].lower_is_better is lower and d[metric].compared
    for bench in (bench_fairness, bench_robustness):
        assert set(bench.METRICS.values()) <= set(all_metric_names()), bench.__name__
    assert set(reaudited()) <= set(classifier_auditors()) and "explain" not in reaudited()
    assert set(printers()) == set(auditors()), "every auditor needs a terminal printer"


def test_each_auditors_preflight_names_the_field_of_what_is_missing(tmp_path: Path) -> None:
    from fairtune.audits import audit_input_problems
    from fairtune.config import build_config

    assert audit_input_problems(build_config({"name": "ok"})) == []
    bad = build_config(
        {
            "name": "bad",
            "audit": {
                "fairness": {"eec": str(tmp_path / "no-eec.csv")},
                "robustness": {"wordnet": str(tmp_path)},
            },
        }
    )
    problems = audit_input_problems(bad)
    assert any(p.startswith("audit.fairness.eec") for p in problems), problems
    assert any(p.startswith("audit.robustness.wordnet") for p in problems), problems
    off = build_config({"name": "off", "audit": {"robustness": {"enabled": False, "wordnet": str(tmp_path)}}})
    assert audit_input_problems(off) == []  # a disabled auditor's needs are not checked
