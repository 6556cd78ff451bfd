"""`fairtune monitor`: a same-distribution window passes and a shifted one is flagged, accuracy with --labels
is the model's, the reference cache is reused until the model changes, bad input is refused before torch
loads, drift gates validate and set the exit code; the MMD test agrees with a maintained implementation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from fairtune.cli import main
from fairtune.testing import shifted_texts, tiny_sentiment_rows, write_csv
from tests.conftest import train_monitored_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A tiny trained run whose eval split (the monitor's reference) has 160 rows."""
    return train_monitored_run(tmp_path_factory.mktemp("monitor"), tiny_model_dir, {"permutations": 200})


def _shifted_rows(n: int) -> list[tuple[str, str]]:
    return [(t, "positive" if i % 2 else "negative") for i, t in enumerate(shifted_texts(n))]


def _monitor(run: Path, data: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = run.parent / "monitor-out" / data.stem
    rc = main(["monitor", str(run), "--data", str(data), "--out", str(out), *extra])
    newest = max(out.glob("20*.json")) if out.is_dir() else None
    return rc, json.loads(newest.read_text()) if newest else {}


def test_a_same_distribution_window_passes_and_a_shifted_one_is_flagged(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = write_csv(tmp_path / "same.csv", tiny_sentiment_rows(100, seed=11))
    rc, doc = _monitor(run_dir, same)
    assert rc == 0 and doc["schema"] == "fairtune/monitor/v1"
    m = doc["metrics"]
    assert m["flagged"] == 0 and m["mmd_p_value"] >= 0.05 and m["n"] == 100
    assert m["oov_rate"] == 0 and "accuracy" not in m
    assert doc["reading"][0].startswith("The new texts look like the reference")
    assert "unknown until they are labelled" in doc["reading"][-1]
    assert "no drift detected" in capsys.readouterr().out

    gates = tmp_path / "gates.yaml"
    gates.write_text("drift.flagged: {max: 0}\ndrift.oov_rate: {max: 0.2}\n")
    shifted = write_csv(tmp_path / "shifted.csv", _shifted_rows(80))
    rc, doc = _monitor(run_dir, shifted, "--gates", str(gates))
    m = doc["metrics"]
    assert rc == 3  # the drift gates failed
    assert m["flagged"] == 1 and m["mmd_p_value"] < 0.05
    assert m["length_shift"] > 10 and m["length_p_value"] < 0.001
    assert (
        m["oov_rate"] > 0.5 and m["unk_rate"] > 0.3
    )  # unseen words and identity terms and m["identity_shift"] > 0.5
    assert [g["status"] for g in doc["gates"]["gates"]] == ["fail", "fail"]
    assert doc["reading"][0].startswith("The new texts differ from the reference")
    assert any(r.startswith("They are longer") for r in doc["reading"])
    assert "gate failed" in capsys.readouterr().err


def test_accuracy_with_labels_is_the_models_own(run_dir: Path, tmp_path: Path) -> None:
    from fairtune.models import TorchClassifier

    rows = tiny_sentiment_rows(90, seed=21)
    data = write_csv(
        tmp_path / "labelled.csv", [(t, y.upper()) for t, y in rows]
    )  # names match ignoring case
    rc, doc = _monitor(run_dir, data, "--labels")
    assert rc == 0
    clf = TorchClassifier.from_dir(run_dir / "model", max_length=16, precision="fp32")
    pred = clf.predict_proba([t for t, _ in rows]).argmax(axis=1)
    truth = np.array([clf.labels.index(y) for _, y in rows])
    accuracy = float((pred == truth).mean())
    m = doc["metrics"]
    assert m["accuracy"] == pytest.approx(accuracy)
    eval_accuracy = json.loads((run_dir / "metrics.json").read_text())["eval"]["accuracy"]
    assert m["accuracy_drop"] == pytest.approx(eval_accuracy - accuracy)
    assert {"macro_f1", "ece", "macro_f1_drop"} <= set(m)
    assert doc["performance"]["confusion_matrix"] and f"{accuracy:.3f}" in doc["reading"][-1]


def test_the_reference_is_cached_and_profiled_again_when_the_model_changes(
    run_dir: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file, save_file

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    window = write_csv(tmp_path / "window.csv", tiny_sentiment_rows(60, seed=31))
    out = tmp_path / "mon"
    args = ["monitor", str(run), "--data", str(window), "--out", str(out), "--json"]

    def once(*extra: str) -> dict[str, Any]:
        assert main([*args, *extra]) == 0
        return json.loads(max(out.glob("20*.json")).read_text())  # type: ignore[no-any-return]

    first = once()
    cache = out / "reference.npz"
    assert not first["reference"]["cached"] and cache.is_file()
    with np.load(cache, allow_pickle=False) as z:  # arrays only: never the texts
        assert z["embeddings"].shape == (160, 32) and z["vocab"].dtype == np.uint64
        assert all(z[k].dtype.kind != "U" or k in ("key", "source") for k in z.files)
    stamp = cache.stat().st_mtime_ns
    second = once()
    assert second["reference"]["cached"] and cache.stat().st_mtime_ns == stamp
    assert second["metrics"]["mmd"] == pytest.approx(first["metrics"]["mmd"])

    weights = run / "model" / "model.safetensors"  # "retrain": change one weight
    tensors = load_file(weights)
    name = next(k for k in tensors if k.endswith("classifier.weight"))
    tensors[name] = tensors[name] + 0.5
    save_file(tensors, weights, metadata={"format": "pt"})
    third = once()
    assert not third["reference"]["cached"]
    assert third["reference"]["weights_sha256"] != first["reference"]["weights_sha256"]
    assert not once("monitor.reference_size=100")["reference"]["cached"]  # another sample, profiled again


PROBE = """
import json, sys
from fairtune.cli import main
cases = json.loads(sys.argv[1])
for argv in cases:
    print("RC", main(argv), flush=True)
print("TORCH", "torch" in sys.modules)
"""


def test_bad_input_is_refused_with_exit_2_before_torch_loads(run_dir: Path, tmp_path: Path) -> None:
    rows = tiny_sentiment_rows(60, seed=41)
    ok = write_csv(tmp_path / "ok.csv", rows)
    header_only = write_csv(tmp_path / "empty.csv", [])
    blank = write_csv(tmp_path / "blank.csv", [("  ", "positive")] * 60)
    small = write_csv(tmp_path / "small.csv", rows[:20])
    wrong = write_csv(
        tmp_path / "wrong.csv", [(t, {0: "happy", 1: "sad"}.get(i % 3, y)) for i, (t, y) in enumerate(rows)]
    )
    other = write_csv(tmp_path / "other.csv", rows, header=("review", "label"))
    r = str(run_dir)
    cases = {
        "--data: file not found": ["monitor", r, "--data", str(tmp_path / "nope.csv")],
        f"{header_only}: no texts in column 'text'": ["monitor", r, "--data", str(header_only)],
        "(60 blank)": ["monitor", r, "--data", str(blank)],
        "20 text(s), fewer than monitor.min_window (50)": ["monitor", r, "--data", str(small)],
        "label(s) 'happy', 'sad' in column 'label' are not the model's labels ['negative', 'positive']": [
            "monitor",
            r,
            "--data",
            str(wrong),
            "--labels",
        ],
        "--text-column: column 'text' not in": ["monitor", r, "--data", str(other)],
        "--label-column: column 'stars' not in": [
            "monitor",
            r,
            "--data",
            str(ok),
            "--labels",
            "--label-column",
            "stars",
        ],
        "fairtune monitor changes only monitor.* settings": ["monitor", r, "--data", str(ok), "train.lr=1"],
        "monitor.alpha: input should be less than 1": ["monitor", r, "--data", str(ok), "monitor.alpha=2"],
        "Did you mean 'drift.mmd'": ["monitor", r, "--data", str(ok), "--gates", str(_gates(tmp_path))],
        "run directory not found": ["monitor", str(tmp_path / "no-run"), "--data", str(ok)],
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(cases.values()))],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [*(["RC", "2"] * len(cases)), "TORCH", "False"], out.stdout + out.stderr
    errors = [e for e in out.stderr.split("error: ") if e.strip()]
    assert len(errors) == len(cases), out.stderr
    for (expected, _), message in zip(cases.items(), errors, strict=True):
        assert expected in " ".join(message.split()), (expected, message)


def _gates(tmp_path: Path) -> Path:
    path = tmp_path / "bad-gates.yaml"
    path.write_text("drift.mmdd: {max: 0.01}\n")
    return path


def test_drift_gates_are_known_metric_names() -> None:
    from fairtune.config import all_metric_names, build_config
    from fairtune.errors import ConfigError

    assert {"drift.mmd", "drift.flagged", "drift.accuracy_drop", "drift.label_shift_tv"} <= set(
        all_metric_names()
    )
    cfg = build_config({"gates": {"drift.flagged": {"max": 0}, "drift.accuracy_drop": {"max": 0.05}}})
    assert set(cfg.gates) == {"drift.flagged", "drift.accuracy_drop"}
    with pytest.raises(ConfigError, match=r"Did you mean 'drift\.oov_rate'"):
        build_config({"gates": {"drift.oov_rat": {"max": 0.1}}})
    with pytest.raises(ConfigError, match=r"monitor\.permutations"):
        build_config({"monitor": {"permutations": 5}})


def test_the_mmd_statistic_is_the_unbiased_estimate_and_its_p_value_agrees_with_hyppo() -> None:
    from fairtune.monitor import mmd_test

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(25, 5)) + 0.6
    res = mmd_test(x, y, permutations=300, seed=1)
    z = np.vstack([x, y])
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2 * np.median(d2[np.triu_indices(len(z), 1)])))
    kxx, kyy, kxy = k[:40, :40], k[40:, 40:], k[:40, 40:]
    direct = (kxx.sum() - 40) / (40 * 39) + (kyy.sum() - 25) / (25 * 24) - 2 * kxy.mean()
    assert res["mmd"] == pytest.approx(direct) and res["p_value"] < 0.01
    same = mmd_test(x[:20], x[20:], permutations=300, seed=1)
    assert same["p_value"] > 0.05

    hyppo = pytest.importorskip("hyppo.ksample")  # a maintained MMD test: the same p-values
    for shift in (0.0, 0.3):
        a, b = rng.normal(size=(80, 6)), rng.normal(size=(50, 6)) + shift
        ours = mmd_test(a, b, permutations=1000, seed=2)["p_value"]
        theirs = hyppo.MMD().test(a, b, reps=1000, auto=False, random_state=2).pvalue
        assert abs(ours - theirs) < 0.06, (shift, ours, theirs)


def test_a_run_made_before_the_monitor_section_is_still_the_same_config(
    run_dir: Path, tmp_path: Path
) -> None:
    """config.yaml of an older run has no `monitor:`; resuming or rerunning it must not call it another
    config's run directory, and a monitor setting is no identity key either."""
    from fairtune._rundir import RunDir
    from fairtune.config import build_config, read_yaml

    raw = {k: v for k, v in read_yaml(run_dir / "config.yaml").items() if k != "monitor"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    old = RunDir(tmp_path)
    old.check_same_config(build_config({k: v for k, v in raw.items() if k != "versions"}))
    old.check_same_config(build_config({**raw, "monitor": {"alpha": 0.01}}))
