"""`fairtune serve --monitor`: the window keeps no text, /v1/drift answers before and after enough traffic,
a shifted stream is flagged and unshifted ones mostly not, a failing monitor never fails a prediction,
gauges on /metrics, a hot reload rebases the monitor on the new model, bad input refused before torch."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from fairtune.testing import shifted_texts, tiny_sentiment_rows
from tests.conftest import train_monitored_run
from tests.serve.test_serve import Server

TEXTS = ["a good film", "the plot was awful", "men and women"]
MARKER = "xqzplorf"  # a made-up word: no tokenizer vocabulary, lexicon or number holds it


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A tiny trained run whose eval split (the reference) has 160 rows; drift tests from 20 texts on."""
    root = tmp_path_factory.mktemp("serve-monitor")
    return train_monitored_run(root, tiny_model_dir, {"permutations": 200, "min_window": 20})


def same_texts(n: int, seed: int) -> list[str]:
    return [t for t, _ in tiny_sentiment_rows(n, seed=seed)]


def served(run: Path, *, window: int = 60, interval: float = 0.0, **kw: Any) -> tuple[Any, Any, Any]:
    """(classifier, monitor, app) as `fairtune serve RUN --monitor` builds them."""
    from fairtune.serve import create_app
    from fairtune.workflows.serve import build_monitor, build_settings, load_served

    clf, info, method = load_served(run, None)
    monitor = build_monitor(run, clf, info, window=window, interval=interval)
    settings = build_settings(info=info, explain_method=method, max_texts=64)
    return clf, monitor, create_app(clf, settings, monitor=monitor, **kw)


def fill(monitor: Any, clf: Any, texts: list[str]) -> None:
    """What the server does, in this thread: tap batches of 8, measure them, test the window."""
    for start in range(0, len(texts), 8):
        monitor.tap(clf, texts[start : start + 8])
    while not monitor.queue.empty():
        monitor.absorb(monitor.queue.get_nowait())
    monitor.test()


def wait_for(check: Any, what: str) -> None:
    deadline = time.time() + 120
    while not check():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def predict(srv: Server, texts: list[str], **kw: Any) -> httpx.Response:
    return httpx.post(srv.url + "/v1/predict", json={"texts": texts}, timeout=60, **kw)


def test_the_ring_buffer_keeps_the_newest_rows_in_order() -> None:
    from fairtune.monitor import Profile, RollingWindow

    def rows(values: range) -> Profile:
        v = np.array(values, dtype=np.int64)
        return Profile(
            embeddings=np.c_[v, v].astype(np.float32),
            probabilities=np.c_[v, v].astype(np.float32),
            lengths=v,
            unk=v,
            words=v,
            oov=v,
            identity=np.c_[v % 2 == 0],
        )

    w = RollingWindow(5)
    w.add(rows(range(3)))
    assert list(w.profile().lengths) == [0, 1, 2] and len(w) == 3
    w.add(rows(range(3, 7)))
    assert list(w.profile().lengths) == [2, 3, 4, 5, 6] and w.total == 7
    w.add(rows(range(7, 20)))  # more than the window at once: its newest rows
    got = w.profile()
    assert list(got.lengths) == [15, 16, 17, 18, 19] and got.embeddings[:, 0].tolist() == [15, 16, 17, 18, 19]


@pytest.mark.integration
def test_the_window_keeps_no_text(run_dir: Path) -> None:
    clf, monitor, _ = served(run_dir)
    sent = [f"{MARKER} the film was good number {i}" for i in range(30)]
    fill(monitor, clf, sent)
    assert len(monitor.window) == 30 and monitor.queue.empty() and monitor.latest is not None
    kept = pickle.dumps(monitor.window) + json.dumps(monitor.status(), default=str).encode()
    assert MARKER.encode() not in kept and b"number 1" not in kept
    assert all(a.dtype.kind in "fiub" for a in monitor.window.arrays.values())  # numbers only


@pytest.mark.integration
def test_a_shifted_stream_is_flagged_and_unshifted_ones_mostly_not(run_dir: Path) -> None:
    flags = []
    for seed in range(11, 16):
        clf, monitor, _ = served(run_dir)
        fill(monitor, clf, same_texts(60, seed))
        flags.append(monitor.latest["metrics"]["flagged"])
    assert sum(flags) <= 1, flags
    clf, monitor, _ = served(run_dir)
    fill(monitor, clf, shifted_texts(60))
    m = monitor.latest["metrics"]
    assert m["flagged"] == 1 and m["mmd_p_value"] < 0.05 and m["length_shift"] > 10 and m["unk_rate"] > 0.3
    assert monitor.latest["reading"][0].startswith("The new texts differ from the reference")


@pytest.mark.integration
def test_drift_answers_before_and_after_enough_traffic_with_gauges(run_dir: Path) -> None:
    from fairtune.config import all_metric_names
    from fairtune.monitor import compare

    _, monitor, app = served(run_dir, window=40)
    with Server(app) as srv:
        early = httpx.get(srv.url + "/v1/drift", timeout=30)
        assert early.status_code == 409 and early.json()["error"]["code"] == "window_too_small"
        assert early.json()["error"]["min_window"] == 20 and "monitor.min_window (20)" in early.text
        for start in range(0, 60, 6):
            assert predict(srv, shifted_texts(60)[start : start + 6]).status_code == 200
        wait_for(lambda: (monitor.status()["latest"] or {}).get("n") == 40, "a test of the full window")
        r = httpx.get(srv.url + "/v1/drift", timeout=30)
        prom = httpx.get(srv.url + "/metrics", timeout=30).text
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["window"] == {"size": 40, "n": 40, "min": 20} and doc["texts"]["received"] == 60
    assert doc["texts"]["seen"] == 60 and doc["texts"]["dropped"] == 0 and doc["errors"] == 0
    assert doc["metrics"]["flagged"] == 1 and doc["computed"] and doc["reference"]["n"] == 160
    ref = monitor.basis.reference.profile
    keys = compare(
        ref, ref, label_names=["a", "b"], dimensions=[], alpha=0.05, permutations=100, seed=0, reference_oov=0
    )
    assert set(doc["metrics"]) == set(keys["metrics"])  # the names `fairtune monitor` gives
    assert {f"drift.{k}" for k in doc["metrics"]} <= set(all_metric_names())  # gateable drift.* names
    assert 'fairtune_drift{metric="flagged"} 1.0' in prom
    assert (
        'fairtune_drift{metric="mmd_p_value"}' in prom
        and "fairtune_drift_last_test_timestamp_seconds" in prom
    )
    assert (
        'fairtune_monitor_texts_total{outcome="seen"} 60.0' in prom
        and "fairtune_monitor_window_texts 40.0" in prom
    )


@pytest.mark.integration
def test_monitoring_off_and_the_api_key(run_dir: Path) -> None:
    import dataclasses

    from fairtune.serve import create_app
    from fairtune.workflows.serve import build_monitor, build_settings, load_served

    clf, info, method = load_served(run_dir, None)
    with Server(create_app(clf, build_settings(info=info, explain_method=method))) as srv:
        off = httpx.get(srv.url + "/v1/drift", timeout=30)
    assert off.status_code == 404 and off.json()["error"]["code"] == "monitor_off"
    assert "--monitor" in off.json()["error"]["message"]
    settings = dataclasses.replace(build_settings(info=info, explain_method=method), api_key="k3y")
    monitor = build_monitor(run_dir, clf, info, window=40, interval=0.0)
    with Server(create_app(clf, settings, monitor=monitor)) as srv:
        refused = httpx.get(srv.url + "/v1/drift", timeout=30)
        allowed = httpx.get(srv.url + "/v1/drift", headers={"X-API-Key": "k3y"}, timeout=30)
    assert refused.status_code == 401 and allowed.status_code == 409


class Broken:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"broken monitor part: {MARKER}")


@pytest.mark.integration
def test_a_failing_monitor_never_fails_a_prediction(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import fairtune.monitor._serving as serving

    clf, monitor, app = served(run_dir)
    want = clf.predict_proba(["a good film", "a bad film"])
    monitor.basis.swappers = [Broken()]  # measuring every batch fails in the monitor thread
    with Server(app) as srv:
        r = predict(srv, ["a good film", "a bad film"])
        wait_for(lambda: monitor.status()["counts"]["errors"] >= 1, "the monitor's error")

        def no_encoder(*args: Any) -> Any:
            raise RuntimeError(MARKER)

        monkeypatch.setattr(serving, "encode", no_encoder)  # the tap fails in the model thread
        again = predict(srv, ["a good film", "a bad film"])
        drift = httpx.get(srv.url + "/v1/drift", timeout=30).json()
        prom = httpx.get(srv.url + "/metrics", timeout=30).text
    for answer in (r, again):
        assert answer.status_code == 200
        got = [[p["probabilities"][k] for k in clf.labels] for p in answer.json()["predictions"]]
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert drift["monitor"]["errors"] == 2 and drift["monitor"]["last_error"].startswith(
        "encoding: RuntimeError"
    )
    assert "fairtune_monitor_errors_total 2.0" in prom
    assert "monitor failed" in caplog.text and MARKER not in caplog.text  # logged without its message


@pytest.mark.integration
def test_a_full_queue_drops_and_counts(run_dir: Path) -> None:
    import dataclasses

    from fairtune.monitor import ServingMonitor

    clf, monitor, _ = served(run_dir)
    small = ServingMonitor(monitor.basis, dataclasses.replace(monitor.settings, queue=2))
    for _ in range(3):  # the monitor thread is not running: the third batch finds the queue full
        small.tap(clf, ["a good film"] * 4)
    assert small.status()["counts"] == {"received": 12, "seen": 0, "dropped": 4, "errors": 0, "tests": 0}


@pytest.mark.integration
def test_a_reload_rebases_the_monitor_on_the_new_model(run_dir: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    from fairtune.models import TorchClassifier
    from fairtune.monitor import weights_hash
    from fairtune.workflows.serve import load_served

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    _, monitor, app = served(run, window=40, reload=lambda: load_served(run, None)[:2])
    old_sha = monitor.basis.reference.key["weights_sha256"]
    new_model = run / "updates" / "u1" / "model"  # a promoted update: another classifier head
    shutil.copytree(run / "model", new_model)
    tensors = load_file(new_model / "model.safetensors")
    head = next(k for k in tensors if k.endswith("classifier.weight"))
    tensors[head] = tensors[head] + 0.5
    save_file(tensors, new_model / "model.safetensors", metadata={"format": "pt"})
    with Server(app) as srv:
        for start in range(0, 40, 8):
            predict(srv, same_texts(40, 5)[start : start + 8])
        wait_for(lambda: monitor.status()["latest"] is not None, "the first test")
        (run / "current.json").write_text(json.dumps({"model": "updates/u1/model"}))
        assert httpx.post(srv.url + "/v1/reload", timeout=120).status_code == 200
        after = httpx.get(srv.url + "/v1/drift", timeout=30)
        for start in range(0, 40, 8):
            predict(srv, same_texts(40, 6)[start : start + 8])
        wait_for(lambda: monitor.status()["latest"] is not None, "a test on the new model")
        again = httpx.get(srv.url + "/v1/drift", timeout=30).json()
        answer = predict(srv, TEXTS).json()["predictions"]
    want = TorchClassifier.from_dir(new_model, precision="fp32").predict_proba(TEXTS)
    got = [[p["probabilities"][k] for k in ("negative", "positive")] for p in answer]
    np.testing.assert_allclose(got, want, atol=1e-5)  # the promoted model serves, and the monitor follows it
    assert after.status_code == 409 and after.json()["monitor"]["window"]["n"] == 0  # the window restarted
    new_sha = weights_hash(new_model)
    assert new_sha != old_sha and again["reference"]["weights_sha256"] == new_sha
    assert again["model"]["promoted"] == "updates/u1/model" and again["window"]["n"] == 40


@pytest.mark.integration
def test_a_reload_whose_reference_fails_pauses_monitoring(run_dir: Path) -> None:
    from fairtune.monitor import ServingMonitor
    from fairtune.serve._drift import drift_answer

    clf, monitor, _ = served(run_dir)

    def no_reference(model: Any, info: dict[str, Any]) -> Any:
        raise FileNotFoundError("eval.csv")

    paused = ServingMonitor(monitor.basis, monitor.settings, rebase=no_reference)
    paused.prepare(clf, {})()  # what a reload does: prepare in the load thread, commit at the swap
    status, body = drift_answer(paused, {})
    assert status == 503 and body["error"]["code"] == "monitor_paused" and "FileNotFoundError" in str(body)
    assert np.allclose(paused.tap(clf, TEXTS), clf.predict_proba(TEXTS)) and paused.queue.empty()


PROBE = """
import json, sys
from fairtune.cli import main
for argv in json.loads(sys.argv[1]):
    print("RC", main(argv), flush=True)
print("TORCH", "torch" in sys.modules)
"""


@pytest.mark.integration
def test_bad_monitor_input_is_refused_with_exit_2_before_torch_loads(run_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"  # a run whose data files are gone and with no cached reference
    shutil.copytree(run_dir, bare, ignore=shutil.ignore_patterns("monitor"))
    cfg = yaml.safe_load((bare / "config.yaml").read_text())
    cfg["data"]["train"], cfg["data"]["eval"] = str(tmp_path / "gone.csv"), str(tmp_path / "gone-eval.csv")
    (bare / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = str(run_dir)
    cases = {
        f"--monitor: {bare} has no texts to compare served ones with: data.train ({tmp_path / 'gone.csv'})": [
            "serve",
            str(bare),
            "--monitor",
        ],
        "run `fairtune monitor": ["serve", str(bare), "--monitor"],
        "not a compressed variant (onnx-int8)": ["serve", r, "--monitor", "--variant", "onnx-int8"],
        "--monitor-window: 5 texts is fewer than the drift test needs: monitor.min_window is 20": [
            "serve",
            r,
            "--monitor",
            "--monitor-window",
            "5",
        ],
        "--monitor-interval: must be a positive number": ["serve", r, "--monitor", "--monitor-interval", "0"],
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(cases.values()))],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.stdout.split() == [*(["RC", "2"] * len(cases)), "TORCH", "False"], out.stdout + out.stderr
    errors = [" ".join(e.split()) for e in out.stderr.split("error: ") if e.strip()]
    for (expected, _), message in zip(cases.items(), errors, strict=True):
        assert expected in message, (expected, message)


@pytest.mark.integration
def test_a_cached_reference_is_enough_without_the_data(run_dir: Path, tmp_path: Path) -> None:
    from fairtune.errors import DataError
    from fairtune.workflows.serve import check_monitor

    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("monitor"))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    for split in ("train", "eval"):  # the run's own copy of its data, deleted below
        cfg["data"][split] = str(shutil.copy(cfg["data"][split], tmp_path / f"{split}.csv"))
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "train.csv").unlink()
    with pytest.raises(DataError, match=r"data\.train \(.*train\.csv\) not found"):
        check_monitor(run, None, 60, 30.0)
    shutil.copy(run_dir.parent.parent / "train.csv", tmp_path / "train.csv")
    served(run)  # profiles the reference once and caches it in run/monitor/reference.npz
    (tmp_path / "train.csv").unlink()
    (tmp_path / "eval.csv").unlink()
    check_monitor(run, None, 60, 30.0)  # no error: the cache holds these weights' reference
    _, monitor, _ = served(run)
    assert monitor.basis.reference.cached
