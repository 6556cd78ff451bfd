"""`fairtune serve`: the real server on a loopback port. Happy paths, every limit, malformed and mistyped
requests, unicode edge cases, the API key, micro-batching, metrics, logs without texts, the port-in-use
error, graceful shutdown with requests in flight, and the page in headless Chromium."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from fairtune.cli import main

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """uvicorn in a thread of the test process, on a free loopback port."""

    def __init__(self, app: Any, **options: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", **options)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    from fairtune.testing import tiny_run_config

    root = tmp_path_factory.mktemp("serve")
    cfg = tiny_run_config(root, tiny_model_dir)
    cfg["train"]["epochs"] = 6
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(root / "cfg.yaml"), "--no-progress"]) == 0
    return root / "runs" / "tiny"


def make_app(run_dir: Path, **overrides: Any) -> Any:
    from fairtune.serve import create_app
    from fairtune.workflows.serve import build_settings, load_served

    clf, info, method = load_served(run_dir, None)
    limits = {
        "max_batch": 32,
        "max_wait_ms": 5.0,
        "max_texts": 4,
        "max_chars": 12_000,
        "max_body_bytes": 60_000,
        "max_explain_texts": 8,
        "max_explain_queue": 2,
        "body_timeout": 30.0,
    }
    limits.update({k: v for k, v in overrides.items() if k in limits})
    settings = build_settings(info=info, explain_method=method, **limits)
    extra = {k: v for k, v in overrides.items() if k not in limits}
    if extra:
        import dataclasses

        settings = dataclasses.replace(settings, **extra)
    return create_app(clf, settings, redact=lambda texts: ["<REDACTED>" for _ in texts])


@pytest.fixture(scope="module")
def server(run_dir: Path) -> Iterator[Server]:
    with Server(make_app(run_dir, max_wait_ms=50.0)) as srv:
        yield srv


def post(srv: Server, path: str, body: Any, **kw: Any) -> httpx.Response:
    return httpx.post(srv.url + path, json=body, timeout=60, **kw)


def test_predict_matches_the_model(server: Server, run_dir: Path) -> None:
    from fairtune.models import TorchClassifier

    texts = ["a good film", "a bad film", "fine"]
    r = post(server, "/v1/predict", {"texts": texts})
    assert r.status_code == 200
    preds = r.json()["predictions"]
    direct = TorchClassifier.from_dir(run_dir / "model", precision="fp32").predict_proba(texts)
    got = np.array([[p["probabilities"][k] for k in ("negative", "positive")] for p in preds])
    assert np.allclose(got, direct, atol=1e-5)
    assert [p["label"] for p in preds] == [["negative", "positive"][i] for i in direct.argmax(1)]
    assert r.json()["model"]["variant"] == "fp32"


def test_explain_returns_word_attributions(server: Server) -> None:
    r = post(server, "/v1/explain", {"texts": ["a truly good film"]})
    assert r.status_code == 200, r.text
    e = r.json()["explanations"][0]
    assert e["words"] == ["a", "truly", "good", "film"] and len(e["scores"]) == 4
    assert r.json()["method"] == "ig"
    r = post(server, "/v1/explain", {"texts": ["a truly good film"], "method": "occlusion"})
    assert r.status_code == 200 and r.json()["method"] == "occlusion"
    r = post(server, "/v1/explain", {"texts": ["   "]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "cannot_explain"


def test_health_docs_page_and_metrics(server: Server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
    assert httpx.get(server.url + "/docs").status_code == 200
    assert "/v1/predict" in httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "<textarea" in httpx.get(server.url + "/").text
    post(server, "/v1/predict", {"texts": ["metric me"]})
    post(server, "/v1/predict", {"texts": "not a list"})
    prom = httpx.get(server.url + "/metrics").text
    assert re.search(r'fairtune_requests_total\{endpoint="/v1/predict",status="200"\} [1-9]', prom)
    assert re.search(r'fairtune_errors_total\{code="422",endpoint="/v1/predict"\} [1-9]', prom)
    assert "fairtune_request_latency_seconds_bucket" in prom and "fairtune_batch_size_bucket" in prom


def test_concurrent_requests_are_micro_batched(server: Server) -> None:
    def count() -> float:
        prom = httpx.get(server.url + "/metrics").text
        return float(re.search(r"^fairtune_batch_size_count (\S+)$", prom, re.M).group(1))  # type: ignore[union-attr]

    before = count()
    with ThreadPoolExecutor(16) as pool:
        codes = list(
            pool.map(lambda i: post(server, "/v1/predict", {"texts": [f"text {i}"]}).status_code, range(16))
        )
    assert codes == [200] * 16
    assert count() - before < 16  # some requests shared a model call


@pytest.mark.parametrize(
    ("body", "status", "code", "limit"),
    [
        ({"texts": ["a"] * 5}, 413, "too_many_texts", "max_texts"),
        ({"texts": ["x" * 12_001]}, 422, "text_too_long", "max_chars"),
        ({"texts": ["y" * 11_000] * 6}, 413, "body_too_large", "max_body_bytes"),
    ],
)
def test_limits(server: Server, body: Any, status: int, code: str, limit: str) -> None:
    r = post(server, "/v1/predict", body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["limit"] == limit and str(err["max"]) in err["message"]


@pytest.mark.parametrize(
    ("content", "code", "mentions"),
    [
        (b'{"texts": ["unclosed"', "malformed_json", "JSON"),
        (b"not json at all", "malformed_json", "JSON"),
        (b'{"texts": "one string"}', "invalid_request", "texts"),
        (b'{"texts": [1, 2]}', "invalid_request", "texts.0"),
        (b'{"text": ["wrong key"]}', "invalid_request", "texts"),
        (b'{"texts": []}', "no_texts", "texts"),
        (b"[]", "invalid_request", "body"),
    ],
)
def test_bad_requests(server: Server, content: bytes, code: str, mentions: str) -> None:
    r = httpx.post(server.url + "/v1/predict", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code and mentions in r.json()["error"]["message"]


def test_unicode_edge_cases(server: Server) -> None:
    texts = [
        "loved it 😀🎬👍🏽",
        "הסרט היה נהדר",  # Hebrew, right to left
        "كان الفيلم رائعا",  # Arabic
        "zero\u200bwidth\u200djoin\ufeff",
        "e\u0301 combining accents",
        "",
        "\u202eoverride\u202c",
    ]
    r = post(server, "/v1/predict", {"texts": texts[:4]})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 4
    r = post(server, "/v1/predict", {"texts": texts[4:]})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 3
    long = ("word " * 2000)[:10_000]
    r = post(server, "/v1/predict", {"texts": [long]})
    assert r.status_code == 200
    assert abs(sum(r.json()["predictions"][0]["probabilities"].values()) - 1) < 1e-5


def test_api_key(run_dir: Path) -> None:
    with Server(make_app(run_dir, api_key="s3cret-key")) as srv:
        body = {"texts": ["hello"]}
        assert post(srv, "/v1/predict", body).status_code == 401
        assert post(srv, "/v1/predict", body, headers={"X-API-Key": "wrong"}).status_code == 401
        assert httpx.get(srv.url + "/metrics").status_code == 401
        assert post(srv, "/v1/predict", body, headers={"X-API-Key": "s3cret-key"}).status_code == 200
        r = post(srv, "/v1/explain", body, headers={"Authorization": "Bearer s3cret-key"})
        assert r.status_code == 200
        assert httpx.get(srv.url + "/healthz").status_code == 200  # probes stay open


def test_logs_hold_no_texts_unless_asked(run_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fairtune.serve")
    with Server(make_app(run_dir)) as srv:
        post(srv, "/v1/predict", {"texts": ["secret phrase jane@example.com"]})
    assert "/v1/predict 200" in caplog.text
    assert "secret phrase" not in caplog.text and "jane@" not in caplog.text
    caplog.clear()
    with Server(make_app(run_dir, log_texts=True)) as srv:
        post(srv, "/v1/predict", {"texts": ["secret phrase jane@example.com"]})
    assert "<REDACTED>" in caplog.text and "jane@" not in caplog.text


def test_log_redactor_is_presidio() -> None:
    from fairtune.workflows.serve import text_redactor

    (out,) = text_redactor()(["please write to jane.doe@example.com"])
    assert "<EMAIL_ADDRESS>" in out and "jane" not in out


def test_port_in_use_and_unknown_variant(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["serve", str(run_dir), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} is already in use" in err and "Traceback" not in err
    assert main(["serve", str(run_dir), "--variant", "int4", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "no compressed variant 'int4'" in err and "none yet" in err
    assert main(["serve", str(run_dir), "--max-batch", "0", "--port", str(free_port())]) == 2
    assert "--max-batch" in capsys.readouterr().err


def test_serve_sets_a_passive_wait_policy_before_loading_the_model(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fairtune.workflows.serve as workflow

    seen: dict[str, str | None] = {}
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(
        workflow, "serve", lambda *a, **kw: seen.update(policy=os.environ.get("OMP_WAIT_POLICY"))
    )
    assert main(["serve", str(run_dir)]) == 0
    assert seen == {"policy": "PASSIVE"}
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # an operator's own setting wins
    assert main(["serve", str(run_dir)]) == 0
    assert seen == {"policy": "ACTIVE"}


@pytest.mark.parametrize(("flag", "expect"), [(None, "fp32"), ("bf16", "bf16"), ("fp32", "fp32")])
def test_precision_is_the_runs_unless_asked(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, flag: str | None, expect: str
) -> None:
    import fairtune.workflows.serve as workflow

    seen: dict[str, Any] = {}

    def fake_serve(run: Any, **kw: Any) -> None:  # load what `fairtune serve` would, without uvicorn
        clf, info, _ = workflow.load_served(run, kw["variant"], kw["precision"])
        seen.update(clf=clf.precision, info=info["precision"])

    monkeypatch.setattr(workflow, "serve", fake_serve)
    assert main(["serve", str(run_dir), *(["--precision", flag] if flag else [])]) == 0
    assert seen == {"clf": expect, "info": expect}  # the tiny run trains with precision: fp32


def test_graceful_shutdown_finishes_requests_in_flight(run_dir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src"), "OMP_NUM_THREADS": "1"}
    env.pop("FAIRTUNE_API_KEY", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fairtune",
            "serve",
            str(run_dir),
            "--port",
            str(port),
            "--max-wait-ms",
            "1500",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()  # type: ignore[union-attr]
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline, "server did not become ready"
            time.sleep(0.2)
        with ThreadPoolExecutor(3) as pool:
            futures = [
                pool.submit(httpx.post, url + "/v1/predict", json={"texts": [f"t{i}"]}, timeout=60)
                for i in range(3)
            ]
            time.sleep(0.5)  # the requests wait in the batcher (1.5 s) when the signal comes
            proc.send_signal(signal.SIGTERM)
            codes = [f.result().status_code for f in futures]
        assert codes == [200, 200, 200]
        # uvicorn re-raises the signal once it has shut down cleanly, so the exit status is SIGTERM's.
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
        log = proc.stdout.read().decode()  # type: ignore[union-attr]
        assert "Waiting for application shutdown" in log and "Finished server process" in log
    finally:
        if proc.poll() is None:
            proc.kill()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's chromium (make setup does)")
def test_page_in_chromium(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    from tests.report.test_render_in_browser import FLAGS, SCREENSHOT_DIR

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/", wait_until="load")
        page.fill("#text", "a truly good film")
        page.click("#go")
        page.wait_for_selector("#highlights .word", timeout=60_000)
        label = page.text_content("#label")
        words = page.eval_on_selector_all(
            "#highlights .word", "els => els.map(e => [e.textContent, e.style.background])"
        )
        bars = page.eval_on_selector_all("#probs .bar", "els => els.length")
        SCREENSHOT_DIR.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT_DIR / "serve.png"), full_page=True)
        browser.close()
    assert not errors
    assert label in ("negative", "positive")
    assert [w for w, _ in words] == ["a", "truly", "good", "film"]
    assert any("rgba" in bg for _, bg in words)
    assert bars == 2
    assert json.loads(json.dumps(words))  # plain data came back from the page


# -- hostile input ------------------------------------------------------------------------------------
def test_a_lone_surrogate_fails_its_own_request_only(server: Server) -> None:
    bad = b'{"texts": ["\\ud800 hello"]}'
    with ThreadPoolExecutor(32) as pool:
        good = [pool.submit(post, server, "/v1/predict", {"texts": [f"good text {i}"]}) for i in range(30)]
        poisoned = pool.submit(
            httpx.post,
            server.url + "/v1/predict",
            content=bad,
            headers={"content-type": "application/json"},
            timeout=60,
        )
        codes = [f.result().status_code for f in good]
        r = poisoned.result()
    assert codes == [200] * 30
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_text"
    assert r.json()["error"]["field"] == "texts[0]" and "lone surrogate" in r.json()["error"]["message"]
    r = httpx.post(
        server.url + "/v1/explain", content=bad, headers={"content-type": "application/json"}, timeout=60
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_text"


class _Breaks:
    """A classifier that fails on any batch holding "boom": a model error the validation cannot see."""

    def __init__(self, clf: Any) -> None:
        self.clf, self.labels = clf, clf.labels

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if any("boom" in t for t in texts):
            raise TypeError("the tokenizer choked")
        return self.clf.predict_proba(texts)  # type: ignore[no-any-return]


def test_a_model_failure_in_a_micro_batch_fails_only_its_request(run_dir: Path) -> None:
    from fairtune.serve import create_app
    from fairtune.workflows.serve import build_settings, load_served

    clf, info, method = load_served(run_dir, None)
    settings = build_settings(info=info, explain_method=method, max_wait_ms=100.0, max_batch=64)
    with Server(create_app(_Breaks(clf), settings)) as srv, ThreadPoolExecutor(32) as pool:
        good = [pool.submit(post, srv, "/v1/predict", {"texts": [f"fine {i}"]}) for i in range(30)]
        bad = pool.submit(post, srv, "/v1/predict", {"texts": ["boom"]})
        codes = [f.result().status_code for f in good]
        r = bad.result()
    assert codes == [200] * 30
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "choked" not in r.text  # the cause goes to the log, not to the client


def test_unknown_paths_and_methods_get_the_json_error_shape_and_bounded_metrics(server: Server) -> None:
    r = httpx.get(server.url + "/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(server.url + "/v1/predict")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    for i in range(300):
        httpx.get(server.url + f"/probe-{i}-" + "x" * 200)
    prom = httpx.get(server.url + "/metrics").text
    assert "probe-" not in prom and 'endpoint="other"' in prom
    assert len(prom) < 50_000  # labels come from the routes, not from what clients send


def test_a_request_path_cannot_forge_log_lines(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fairtune.serve")
    httpx.get(server.url + "/x%0AGET%20/v1/predict%20200%200.1ms")
    lines = [r.getMessage() for r in caplog.records if r.name == "fairtune.serve"]
    assert lines and all("\n" not in line for line in lines)
    assert any("\\n" in line and "404" in line for line in lines)


def test_max_batch_caps_every_model_call(run_dir: Path) -> None:
    def batches(srv: Server) -> tuple[float, float]:
        prom = httpx.get(srv.url + "/metrics").text
        count = re.search(r"^fairtune_batch_size_count (\S+)$", prom, re.M)
        small = re.search(r'^fairtune_batch_size_bucket\{le="2.0"\} (\S+)$', prom, re.M)
        assert count and small
        return float(count.group(1)), float(small.group(1))

    with Server(make_app(run_dir, max_batch=2)) as srv:
        before = batches(srv)
        r = post(srv, "/v1/predict", {"texts": ["one", "two", "three", "four"]})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 4
        after = batches(srv)
    assert after[0] - before[0] == 2 and after[1] - before[1] == 2  # two calls of two, none of four


def test_api_key_edge_cases(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fairtune.errors import ConfigError
    from fairtune.workflows.serve import build_settings

    monkeypatch.setenv("FT_EMPTY_KEY", "  ")
    with pytest.raises(ConfigError, match=r"\$FT_EMPTY_KEY is set but empty"):
        build_settings(info={}, explain_method="occlusion", api_key_env="FT_EMPTY_KEY")
    key = "clé-secrète-ключ"
    with Server(make_app(run_dir, api_key=key)) as srv:
        raw = key.encode("utf-8")  # what a client sends for a non-ASCII key
        r = httpx.post(
            srv.url + "/v1/predict", json={"texts": ["hi"]}, headers=[(b"x-api-key", raw)], timeout=60
        )
        assert r.status_code == 200
        wrong = httpx.post(srv.url + "/v1/predict", json={"texts": ["hi"]}, headers={"X-API-Key": "cle"})
        assert wrong.status_code == 401
        # readiness stays open to probes, but says what runs where to key holders only
        assert httpx.get(srv.url + "/readyz").json() == {"status": "ready"}
        assert "model" in httpx.get(srv.url + "/readyz", headers=[(b"x-api-key", raw)]).json()


def test_docs_page_needs_no_network(server: Server) -> None:
    html = httpx.get(server.url + "/docs").text
    assert "cdn." not in html and "https://" not in html.split("openapi")[0]
    scripts = re.findall(r'src="([^"]+\.js)"', html)
    assert scripts and all(s.startswith("/") for s in scripts)
    for src in scripts:
        assert httpx.get(server.url + src).status_code == 200


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b'{"texts": ["caf\xe9"]}', 400, "malformed_json"),  # not UTF-8
        (b'{"texts": ' + b"[" * 25_000 + b"]" * 25_000 + b"}", 400, "malformed_json"),  # too deep
        (b'{"texts": ["a"], "n": ' + b"9" * 5000 + b"}", 400, "malformed_json"),  # too large a number
        (b'{"texts": ["unclosed"', 422, "malformed_json"),
    ],
)
def test_every_parse_error_has_the_one_error_shape(
    server: Server, content: bytes, status: int, code: str
) -> None:
    r = httpx.post(
        server.url + "/v1/predict", content=content, headers={"content-type": "application/json"}, timeout=60
    )
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    message = body["error"]["message"]
    assert 'Send JSON like {"texts": ["a text"]}.' in message and ". Send JSON" in message


def _slow_ig_app(run_dir: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> Any:
    """An app whose explanations take at least 0.5 s per text on the model thread, whatever the host's speed,
    so that 'while an explanation runs' holds for seconds, not for however long a tiny model takes."""
    import fairtune.audits.explain as explain_module

    real = explain_module.explain

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(explain_module, "explain", slow)
    return make_app(run_dir, max_explain_texts=4, **overrides)


def test_predictions_are_answered_while_a_long_explanation_runs(run_dir: Path, caplog, monkeypatch) -> None:
    caplog.set_level(logging.INFO, logger="fairtune.serve")
    texts = [f"a good film about the plot number {i} and it was very fun" for i in range(4)]
    with Server(_slow_ig_app(run_dir, monkeypatch)) as srv, ThreadPoolExecutor(2) as pool:
        explain = pool.submit(post, srv, "/v1/explain", {"texts": texts, "method": "ig"})
        time.sleep(0.05)
        r = post(srv, "/v1/predict", {"texts": ["a bad film"]})
        assert r.status_code == 200
        assert not explain.done()  # the prediction did not wait for the whole explanation
        assert explain.result().status_code == 200


def _histogram(text: str, name: str) -> dict[str, float]:
    """{le: cumulative count} of a Prometheus histogram in /metrics text."""
    pattern = rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$'
    return {m.group(1): float(m.group(2)) for m in re.finditer(pattern, text, re.M)}


def test_a_prediction_waits_for_at_most_one_explanation_chunk_and_explanations_still_finish(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fairtune.serve._turns import ModelTurns

    real_turn = ModelTurns.explain_turn

    def slow_chunk(self: ModelTurns) -> None:  # each chunk holds the model 30 ms, whatever the host's speed
        real_turn(self)
        time.sleep(0.03)

    monkeypatch.setattr(ModelTurns, "explain_turn", slow_chunk)
    texts = [f"a good film about the plot number {i} and it was very fun" for i in range(4)]
    app = make_app(run_dir, max_explain_texts=4, explain_chunk=4)
    with Server(app) as srv, ThreadPoolExecutor(5) as pool:
        explain = pool.submit(post, srv, "/v1/explain", {"texts": texts, "method": "ig"})

        def keep_predicting() -> int:  # a steady stream of predictions until the explanation is done
            n = 0
            while not explain.done() and n < 500:
                assert post(srv, "/v1/predict", {"texts": ["a bad film"]}).status_code == 200
                n += 1
            return n

        sent = sum(f.result() for f in [pool.submit(keep_predicting) for _ in range(4)])
        assert explain.result().status_code == 200  # not starved by the stream
        waits = _histogram(httpx.get(srv.url + "/metrics").text, "fairtune_predict_wait_explain_chunks")
    assert sent >= 8 and waits["+Inf"] >= 8
    assert waits["1.0"] == waits["+Inf"]  # every prediction batch waited for at most one chunk
    assert waits["0.0"] < waits["+Inf"]  # and some did wait: the two really competed for the model


def test_explanations_beyond_the_queue_limit_get_429_with_retry_after(run_dir: Path, monkeypatch) -> None:
    texts = [f"a good film about the plot number {i} and it was very fun" for i in range(4)]
    app = _slow_ig_app(run_dir, monkeypatch, max_explain_queue=1)
    with Server(app) as srv, ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, srv, "/v1/explain", {"texts": texts, "method": "ig"})
        time.sleep(0.05)
        second = post(srv, "/v1/explain", {"texts": texts[:1]})
        assert first.result().status_code == 200
    assert second.status_code == 429 and second.json()["error"]["code"] == "explain_busy"
    assert int(second.headers["Retry-After"]) >= 1 and second.json()["error"]["limit"] == "max_explain_queue"


def test_an_explanation_stops_when_its_client_goes_away(run_dir: Path, caplog, monkeypatch) -> None:
    caplog.set_level(logging.INFO, logger="fairtune.serve")
    texts = [f"a good film about the plot number {i} and it was very fun" for i in range(4)]
    with Server(_slow_ig_app(run_dir, monkeypatch)) as srv:
        with pytest.raises(httpx.TimeoutException):
            httpx.post(srv.url + "/v1/explain", json={"texts": texts, "method": "ig"}, timeout=0.02)
        deadline = time.time() + 30
        while "client gone" not in caplog.text and time.time() < deadline:
            time.sleep(0.05)
    assert re.search(r"client gone; [1-3] of 4 texts left unexplained", caplog.text)


@pytest.fixture(scope="module")
def guarded(run_dir: Path) -> Iterator[Server]:
    from fairtune.serve._protocol import server_options

    app = make_app(run_dir, body_timeout=0.5)
    with Server(app, **server_options(head_timeout=0.5, max_head_bytes=4096, max_connections=50)) as srv:
        yield srv


def _raw(srv: Server, *chunks: bytes, pause: float = 0.0, wait: float = 5.0) -> tuple[bytes, float]:
    """Send `chunks` on a raw connection (`pause` s apart) and read until the server closes it: what it
    answered, and when it closed (seconds from the connect)."""
    t0 = time.time()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=wait) as sock:
        got = b""
        try:
            for chunk in chunks:
                sock.sendall(chunk)
                time.sleep(pause)
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                got += data
        except (ConnectionResetError, BrokenPipeError):
            pass
    return got, time.time() - t0


def test_an_idle_connection_is_closed(guarded: Server) -> None:
    got, closed_after = _raw(guarded)
    assert got.startswith(b"HTTP/1.1 408") and closed_after < 3


def test_a_head_sent_a_byte_at_a_time_is_cut_off(guarded: Server) -> None:
    trickle = [b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n", *[b"X-Slow: y\r\n"] * 20]
    got, closed_after = _raw(guarded, *trickle, pause=0.1)
    # cut off at the 0.5 s head timeout, long before the 2 s the trickle would take (the 408 may be lost
    # to the reset of a connection that was still sending)
    assert closed_after < 1.5 and (got == b"" or got.startswith(b"HTTP/1.1 408"))


def test_an_oversized_head_gets_431(guarded: Server) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    got, _ = _raw(guarded, head)
    assert got.startswith(b"HTTP/1.1 431")
    assert httpx.get(guarded.url + "/healthz").status_code == 200  # normal requests still pass


def test_a_body_that_never_arrives_gets_408(guarded: Server) -> None:
    head = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    got, _ = _raw(guarded, head, b'{"texts": [')
    assert b" 408 " in got.split(b"\r\n", 1)[0] and b'"body_timeout"' in got
    r = post(guarded, "/v1/predict", {"texts": ["still fine"]})
    assert r.status_code == 200
