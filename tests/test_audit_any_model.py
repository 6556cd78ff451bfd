"""Audit any model: `fairtune.classifier` / `fairtune.audit` / `fairtune audit --model|--endpoint`, on a
transformers pipeline built from a Hugging Face folder, a scikit-learn TF-IDF pipeline trained on SST-2,
a running `fairtune serve` and another JSON API; plus the light `import fairtune` and bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import fairtune as ft
from fairtune.cli import main
from fairtune.errors import FairtuneError
from fairtune.testing import tiny_biased_rows, tiny_run_config, write_csv

PROJECT = Path(__file__).resolve().parents[1]
SST2 = PROJECT.parent / "shared" / "data" / "sst2_glue"
QUICK = {
    "fairness": {"max_eval_rows": 24},
    "robustness": {"sample": 8, "max_eval_rows": 24, "min_similarity": None},
    "explain": {"sample": 3, "ig_steps": 8, "stability_steps": 4},
}


def _check_audit_dir(out: Path, auditors: list[str]) -> dict[str, Any]:
    for name in ("report.html", "report.md", "gates.json", "metrics.json", "model_card.md", "config.yaml"):
        assert (out / name).is_file(), name
    for name in auditors:
        assert json.loads((out / "audit" / f"{name}.json").read_text())["auditor"] == name
    html = (out / "report.html").read_text()
    assert "audited model" in html and "Gates" in html
    return json.loads((out / "gates.json").read_text())  # type: ignore[no-any-return]


def test_import_fairtune_is_light_and_a_scikit_learn_audit_never_imports_torch(tmp_path: Path) -> None:
    script = f"""
import sys
import fairtune as ft
light = not any(m in sys.modules for m in ("torch", "pandas", "numpy", "transformers"))
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from fairtune.testing import tiny_biased_rows
rows = tiny_biased_rows(120, seed=1)
texts, labels = [t for t, _ in rows], [y for _, y in rows]
pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
res = ft.audit(pipe, (texts, labels), only=["fairness", "robustness", "explain"], config={QUICK!r}, log=print)
res.save({str(tmp_path / "out")!r})
print("LIGHT", light, "TORCH", "torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "LIGHT True TORCH False" in out.stdout
    _check_audit_dir(tmp_path / "out", ["fairness", "robustness", "explain"])


@pytest.mark.integration
def test_the_example_audits_a_tfidf_pipeline_trained_on_sst2(tmp_path: Path) -> None:
    cmd = [sys.executable, str(PROJECT / "examples" / "audit_any_model.py"), "--data-dir", str(SST2)]
    cmd += ["--train-rows", "6000", "--eval-rows", "120", "--out", str(tmp_path / "tfidf")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode in (0, 3), out.stderr
    gates = _check_audit_dir(tmp_path / "tfidf", ["fairness", "robustness"])
    assert [g["metric"] for g in gates["gates"]] == ["eval.accuracy", "fairness.flip_rate"]
    accuracy = json.loads((tmp_path / "tfidf" / "metrics.json").read_text())["eval"]["accuracy"]
    assert accuracy > 0.65  # TF-IDF + logistic regression on 6,000 SST-2 rows: about 0.75 on dev
    assert out.returncode == (0 if gates["passed"] else 3)


def _lowercase(texts: Any) -> Any:
    return [t.lower() for t in texts]


@pytest.mark.integration
def test_the_cli_audits_a_scikit_learn_model_saved_with_skops_and_refuses_untrusted_code(
    tmp_path: Path,
) -> None:
    import pandas as pd
    import skops.io as sio
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    train = pd.read_csv(SST2 / "train.tsv", sep="\t").head(6000)
    labels = train["label"].map({0: "negative", 1: "positive"})
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(train["sentence"], labels)
    sio.dump(pipe, tmp_path / "tfidf.skops")
    dev = write_csv(
        tmp_path / "dev.csv",
        [
            (t, "positive" if y else "negative")
            for t, y in pd.read_csv(SST2 / "dev.tsv", sep="\t").head(60).itertuples(index=False)
        ],
    )
    (tmp_path / "gates.yaml").write_text("eval.accuracy: {min: 0.6}\n")
    argv = ["audit", "--model", str(tmp_path / "tfidf.skops"), "--data", str(dev), "--only", "fairness"]
    assert main([*argv, "--gates", str(tmp_path / "gates.yaml"), "--out", str(tmp_path / "out")]) == 0
    assert _check_audit_dir(tmp_path / "out", ["fairness"])["passed"]

    unsafe = make_pipeline(FunctionTransformer(_lowercase), TfidfVectorizer(), LogisticRegression())
    sio.dump(unsafe.fit(train["sentence"][:200], labels[:200]), tmp_path / "custom.skops")
    with pytest.raises(
        FairtuneError, match=re.escape("does not trust by default (tests.test_audit_any_model._lowercase)")
    ):
        ft.classifier(tmp_path / "custom.skops")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A tiny fairtune run: its model/ folder is a Hugging Face classifier folder like any other."""
    root = tmp_path_factory.mktemp("any-model")
    cfg = tiny_run_config(root, tiny_model_dir)
    cfg["train"]["epochs"] = 6
    write_csv(root / "eval.csv", tiny_biased_rows(40, seed=2))  # with identity terms for the fairness audit
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(root / "cfg.yaml"), "--no-progress"]) == 0
    return root / "runs" / "tiny"


def test_a_transformers_pipeline_is_audited_white_box(run_dir: Path, tmp_path: Path) -> None:
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(run_dir / "model"), device="cpu")
    clf = ft.classifier(pipe, max_length=16, precision="fp32")  # as the pipeline runs it
    texts = ["a good film", "the plot was awful"]
    want = [{r["label"]: r["score"] for r in rows} for rows in pipe(texts, top_k=None)]
    got = clf.predict_proba(texts)
    for row, p in zip(want, got, strict=True):
        assert [row[label] for label in clf.labels] == pytest.approx(p.tolist(), abs=1e-5)
    res = ft.audit(clf, run_dir.parent.parent / "eval.csv", only=["fairness", "explain"], config=QUICK)
    assert "explain.ig_comprehensiveness" in res.metrics  # the pipeline's model has gradients
    assert res.check_gates({"fairness.flip_rate": {"max": 1.0}})["passed"] and res.passed
    _check_audit_dir(res.save(tmp_path / "pipe"), ["fairness", "explain"])
    res.report(tmp_path / "only" / "report.html")
    assert (tmp_path / "only" / "report.html").read_text().lower().startswith("<!doctype html>")


def test_the_cli_audits_a_hf_folder_and_a_failed_gate_exits_3(run_dir: Path, tmp_path: Path) -> None:
    gates = tmp_path / "gates.yaml"
    gates.write_text("eval.accuracy: {min: 1.01}\nfairness.flip_rate: {max: 1.0}\n")
    data = run_dir.parent.parent / "eval.csv"
    argv = ["audit", "--model", str(run_dir / "model"), "--data", str(data), "--only", "fairness"]
    argv += ["--gates", str(gates), "--out", str(tmp_path / "cli"), "audit.fairness.max_eval_rows=20"]
    assert main(argv) == 3
    doc = _check_audit_dir(tmp_path / "cli", ["fairness"])
    assert [g["status"] for g in doc["gates"]] == ["fail", "pass"]
    used = yaml.safe_load((tmp_path / "cli" / "config.yaml").read_text())
    assert used["audit"]["fairness"]["max_eval_rows"] == 20 and used["audited_model"] == str(
        run_dir / "model"
    )


# --- endpoints --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(run_dir: Path) -> Iterator[str]:
    from tests.serve.test_serve import Server, make_app

    with Server(make_app(run_dir, max_texts=64)) as srv:
        yield srv.url


@pytest.mark.integration
def test_a_running_fairtune_serve_is_audited_through_its_api(
    run_dir: Path, served: str, tmp_path: Path
) -> None:
    from fairtune.models import TorchClassifier

    clf = ft.endpoint(served)
    local = TorchClassifier.from_dir(run_dir / "model", max_length=16, precision="fp32")  # as served
    assert clf.labels == local.labels  # read from the service's first answer
    texts = [t for t, _ in tiny_biased_rows(70, seed=5)]  # more than one request's batch
    np.testing.assert_allclose(clf.predict_proba(texts), local.predict_proba(texts), atol=1e-4)
    res = ft.audit(clf, run_dir.parent.parent / "eval.csv", only=["fairness", "explain"], config=QUICK)
    assert not any(k.startswith("explain.ig_") for k in res.metrics)  # a service offers no gradients
    _check_audit_dir(res.save(tmp_path / "ep"), ["fairness", "explain"])
    argv = ["audit", "--endpoint", served, "--data", str(run_dir.parent.parent / "eval.csv")]
    argv += ["--only", "fairness", "--out", str(tmp_path / "ep-cli"), "audit.fairness.max_eval_rows=20"]
    assert main(argv) == 0
    _check_audit_dir(tmp_path / "ep-cli", ["fairness"])


class _OtherApi(BaseHTTPRequestHandler):
    """Another JSON API: {"inputs": [...], "options": {...}} in, {"outputs": [{"scores": [neg, pos]}]} out."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        assert body["options"] == {"wait": True}
        scores = [[0.2, 0.8] if "good" in t else [0.9, 0.1] for t in body["inputs"]]
        data = json.dumps({"outputs": [{"scores": s} for s in scores]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def other_api() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _OtherApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/classify"
    server.shutdown()


def test_any_json_api_is_described_by_a_template_a_path_and_labels(other_api: str, tmp_path: Path) -> None:
    spec = {"request": {"inputs": "{texts}", "options": {"wait": True}}, "probabilities": "outputs.*.scores"}
    clf = ft.endpoint(other_api, labels=["negative", "positive"], batch_size=3, **spec)
    np.testing.assert_allclose(
        clf.predict_proba(["good", "bad", "good one", "x"])[:, 1], [0.8, 0.1, 0.8, 0.1]
    )
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({**spec, "labels": ["negative", "positive"]}))
    data = write_csv(tmp_path / "eval.csv", tiny_biased_rows(30, seed=4))
    argv = [
        "audit",
        "--endpoint",
        other_api,
        "--endpoint-spec",
        str(tmp_path / "spec.yaml"),
        "--data",
        str(data),
    ]
    assert main([*argv, "--only", "fairness", "--out", str(tmp_path / "out")]) == 0
    _check_audit_dir(tmp_path / "out", ["fairness"])
    with pytest.raises(FairtuneError, match=re.escape("no list of probabilities at 'outputs.*.probs'")):
        ft.endpoint(
            other_api, request=spec["request"], probabilities="outputs.*.probs", labels=["n", "p"]
        ).predict_proba(["good"])
    with pytest.raises(FairtuneError, match=re.escape('has no "{texts}" value')):
        ft.endpoint(other_api, request={"inputs": []}, labels=["n", "p"])


# --- data and bad input -----------------------------------------------------------------------------


def test_data_comes_as_a_path_a_dataframe_a_dataset_or_two_lists(tmp_path: Path) -> None:
    import datasets
    import pandas as pd

    from fairtune.data import labelled_data

    rows = tiny_biased_rows(12, seed=1)
    frame = pd.DataFrame(rows, columns=["review", "stars"])
    path = write_csv(tmp_path / "d.csv", rows, header=("review", "stars"))
    names = ["NEGATIVE", "POSITIVE"]  # the data's lower-case labels match ignoring case
    cols = {"text_column": "review", "label_column": "stars"}
    got = [
        labelled_data(frame, names, **cols),
        labelled_data(datasets.Dataset.from_pandas(frame), names, **cols),
        labelled_data(path, names, **cols),
        labelled_data(([t for t, _ in rows], [y for _, y in rows]), names),
    ]
    want = [int(y == "positive") for _, y in rows]
    for d in got:
        assert d.texts == [t for t, _ in rows] and d.labels.tolist() == want
    with pytest.raises(FairtuneError, match="text_column \\(--text-column\\)"):
        labelled_data(frame, names)
    with pytest.raises(FairtuneError, match="cannot read labelled data from a int"):
        labelled_data(3, names)


def test_bad_models_and_outputs_are_refused_with_the_fix() -> None:
    with pytest.raises(FairtuneError, match="fairtune cannot audit a int"):
        ft.classifier(3)
    with pytest.raises(FairtuneError, match=re.escape("Pass labels=[...]")):
        ft.classifier(lambda texts: [[0.5, 0.5]] * len(texts))
    wrong = ft.classifier(lambda texts: [[0.5, 0.5, 0.0]] * len(texts), labels=["a", "b"])
    with pytest.raises(FairtuneError, match="returned shape \\(1, 3\\); expected \\(1, 2\\)"):
        wrong.predict_proba(["x"])
    logits = ft.classifier(lambda texts: [[2.0, -1.0]] * len(texts), labels=["a", "b"])
    with pytest.raises(FairtuneError, match="not probabilities"):
        logits.predict_proba(["x"])
    with pytest.raises(FairtuneError, match="needs the model's training texts"):
        ft.audit(logits, (["x", "y"], ["a", "b"]), only=["privacy"])
    with pytest.raises(FairtuneError, match="unknown auditor 'fairnes'"):
        ft.audit(logits, (["x", "y"], ["a", "b"]), only=["fairnes"])
