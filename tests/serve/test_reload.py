"""Hot reload: a running server swaps in a new model under traffic with no failed request."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from fairtune.cli import main
from fairtune.testing import tiny_run_config
from tests.serve.test_serve import Server

pytestmark = pytest.mark.integration
TEXTS = ["a good film", "the plot was awful", "men and women"]


def _train(root: Path, model_dir: Path, seed: int) -> Path:
    cfg = tiny_run_config(root, model_dir)
    cfg["seed"] = seed
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(root / "cfg.yaml"), "--no-progress"]) == 0
    return root / "runs" / "tiny"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, Path]:
    return (
        _train(tmp_path_factory.mktemp("reload-a"), tiny_model_dir, 1),
        _train(tmp_path_factory.mktemp("reload-b"), tiny_model_dir, 2),
    )


def _loader(run: Path) -> Any:
    from fairtune.workflows.serve import load_served

    def load() -> tuple[Any, dict[str, Any]]:
        clf, info, _ = load_served(run, None)
        return clf, {**info, "name": run.parent.parent.name}

    return load


def _wait_for(statuses: list[int], n: int) -> None:
    deadline = time.time() + 120
    while len(statuses) < n:
        assert time.time() < deadline, "the traffic stopped"
        time.sleep(0.01)


def _app(clf: Any, info: dict[str, Any], loader: Any) -> Any:
    from fairtune.serve import create_app
    from fairtune.workflows.serve import build_settings

    return create_app(clf, build_settings(info=info, explain_method="occlusion"), reload=loader)


def test_a_reload_under_traffic_drops_no_request_and_serves_the_new_model(
    two_runs: tuple[Path, Path],
) -> None:
    old, new = two_runs
    want_new = _loader(new)()[0].predict_proba(TEXTS)
    clf, info = _loader(old)()
    served = _app(clf, info, _loader(new))  # serves run A; a reload loads run B
    statuses: list[int] = []
    stop = threading.Event()

    def traffic(url: str) -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                statuses.append(client.post(url + "/v1/predict", json={"texts": TEXTS}).status_code)

    with Server(served) as srv:
        workers = [threading.Thread(target=traffic, args=(srv.url,)) for _ in range(4)]
        for w in workers:
            w.start()
        _wait_for(statuses, 40)
        before = len(statuses)
        r = httpx.post(srv.url + "/v1/reload", timeout=120)
        during = len(statuses) - before  # answered while the new model loaded, warmed up and swapped in
        _wait_for(statuses, len(statuses) + 40)
        stop.set()
        for w in workers:
            w.join()
        assert r.status_code == 200 and r.json()["model"]["name"] == new.parent.parent.name
        got = httpx.post(srv.url + "/v1/predict", json={"texts": TEXTS}, timeout=30).json()
        ready = httpx.get(srv.url + "/readyz", timeout=30).json()
        metrics = httpx.get(srv.url + "/metrics", timeout=30).text
    assert during > 0 and set(statuses) == {200}, f"{len(statuses)} requests: {sorted(set(statuses))}"
    probs = np.array([[p["probabilities"][name] for name in clf.labels] for p in got["predictions"]])
    np.testing.assert_allclose(probs, want_new, atol=1e-5)
    assert ready["model"]["name"] == new.parent.parent.name and "fairtune_reloads_total 1.0" in metrics


def test_a_model_with_other_labels_is_refused_and_the_old_one_keeps_serving(
    two_runs: tuple[Path, Path],
) -> None:
    old, _ = two_runs
    clf, info = _loader(old)()

    def other_labels() -> tuple[Any, dict[str, Any]]:
        new, new_info = _loader(old)()
        new.labels = ["bad", "good"]
        return new, new_info

    with Server(_app(clf, info, other_labels)) as srv:
        r = httpx.post(srv.url + "/v1/reload", timeout=120)
        assert r.status_code == 409 and "differ from the served" in r.json()["error"]["message"]
        ok = httpx.post(srv.url + "/v1/predict", json={"texts": TEXTS}, timeout=30)
    assert ok.status_code == 200 and set(ok.json()["predictions"][0]["probabilities"]) == set(clf.labels)


def test_reload_is_behind_the_api_key(two_runs: tuple[Path, Path]) -> None:
    import dataclasses

    from fairtune.serve import create_app
    from fairtune.workflows.serve import build_settings

    old, new = two_runs
    clf, info = _loader(old)()
    settings = dataclasses.replace(build_settings(info=info, explain_method="occlusion"), api_key="k3y")
    with Server(create_app(clf, settings, reload=_loader(new))) as srv:
        refused = httpx.post(srv.url + "/v1/reload", timeout=60)
        done = httpx.post(srv.url + "/v1/reload", headers={"X-API-Key": "k3y"}, timeout=120)
    assert refused.status_code == 401 and done.status_code == 200
