"""Experiment trackers (`train.report_to`): a tiny `fairtune run` logs into W&B (offline), MLflow (a local
store) and TensorBoard at once, and what each holds is read back and compared with the run's own files."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fairtune.cli import main
from fairtune.config import build_config
from fairtune.errors import ConfigError
from fairtune.tracking import Tracker, Trackers

pytestmark = pytest.mark.integration

#: What a user may set to send the runs elsewhere; unset here, so the offline, local defaults apply.
USER_SETTINGS = ("WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")

#: One gate passes, one fails, one is not run (the robustness audit is off).
GATES = {
    "eval.accuracy": {"min": 0.0},
    "eval.ece": {"max": -1.0},
    "robustness.attack_success_rate": {"max": 1},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[Path]:
    """One tiny `fairtune run` reporting to all three trackers (the fairness and privacy audits on)."""
    from fairtune.testing import tiny_run_config

    tmp = tmp_path_factory.mktemp("trackers")
    raw = tiny_run_config(tmp, tiny_model_dir)
    raw["train"] |= {"epochs": 2, "log_every": 4, "report_to": ["wandb", "mlflow", "tensorboard"]}
    raw["audit"] = {
        "fairness": {"permutations": 100, "bootstrap": 100, "group_bootstrap": 20},
        "privacy": {"sample": 20},
        "robustness": {"enabled": False},
        "explain": {"enabled": False},
    }
    raw["gates"] = GATES
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(raw))
    with pytest.MonkeyPatch.context() as mp:
        for var in USER_SETTINGS:
            mp.delenv(var, raising=False)
        for var in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):  # W&B's own folders
            mp.setenv(var, str(tmp / var.lower()))
        assert main(["run", str(tmp / "cfg.yaml"), "--no-progress"]) == 3  # eval.ece's gate fails
    yield tmp / "runs" / "tiny"


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _expected(run: Path) -> dict[str, Any]:
    """What the run's own files say the trackers should hold."""
    metrics, gates = _json(run / "metrics.json"), _json(run / "gates.json")
    audits = {
        f"{path.stem}/{key}": value
        for path in (run / "audit").glob("*.json")
        for key, value in _json(path)["metrics"].items()
    }
    return {
        "loss": [(h["step"], h["loss"]) for h in metrics["train"]["history"]],
        "eval_accuracy": [(e["step"], e["accuracy"]) for e in metrics["train"]["evals"]],
        "final": {f"eval.{k}": metrics["eval"][k] for k in ("accuracy", "macro_f1", "ece", "loss")}
        | {f"train.{k}": metrics["train"][k] for k in ("steps", "samples", "n_train")},
        "audits": audits,
        "gates": {f"gates/{row['metric']}": row["status"] for row in gates["gates"]},
        "passed": float(gates["passed"]),
        "steps": metrics["train"]["steps"],
    }


def test_the_run_recorded_each_trackers_run_and_every_audit_ran(run: Path) -> None:
    ids = _json(run / "trackers.json")
    assert set(ids) == {"wandb", "mlflow"}
    expected = _expected(run)
    assert {k.partition("/")[0] for k in expected["audits"]} == {"fairness", "privacy"}
    assert set(expected["gates"].values()) == {"pass", "fail", "not run"}


def test_mlflow_holds_curves_final_metrics_params_audits_gates_and_the_report(run: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow.db'}")
    run_id = _json(run / "trackers.json")["mlflow"]
    mlrun = client.get_run(run_id)
    expected = _expected(run)

    def history(key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]

    assert mlrun.info.status == "FINISHED" and mlrun.info.run_name == "tiny"
    assert len(client.search_runs([mlrun.info.experiment_id])) == 1  # the end of `run` reopened it
    assert history("train/loss") == expected["loss"]
    assert history("eval/accuracy") == expected["eval_accuracy"]
    metrics = mlrun.data.metrics
    for key, value in (expected["final"] | expected["audits"]).items():
        assert metrics[key] == value, key
    assert history("fairness/identity_auc_min")[0][0] == expected["steps"]
    assert metrics["gates/passed"] == expected["passed"] == 0.0
    assert {k: v for k, v in mlrun.data.tags.items() if k.startswith("gates/")} == expected["gates"]
    params = mlrun.data.params
    assert params["train.lr"] == "0.01" and params["name"] == "tiny"
    assert params["train.report_to"] == "['wandb', 'mlflow', 'tensorboard']"
    assert [a.path for a in client.list_artifacts(run_id)] == ["report.html"]
    local = client.download_artifacts(run_id, "report.html", str(run.parent / "downloaded"))
    assert Path(local).read_bytes() == (run / "report.html").read_bytes()


def _wandb_records(path: Path) -> Iterator[Any]:
    """The records of an offline W&B run file: a 7-byte header (':W&B', magic, version), then LevelDB
    log blocks of 32 KiB whose chunks (checksum, length, type) carry protobuf `Record`s."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block, pos, pending = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        pending, pos = pending + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4) and pending:  # a full record, or the last chunk of one
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _wandb_run(folder: Path) -> dict[str, Any]:
    """History rows ({_step, key: value}), summary, config, artifacts of one offline run folder."""
    out: dict[str, Any] = {"history": [], "summary": {}, "config": {}, "artifacts": []}
    for record in _wandb_records(next(folder.glob("run-*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = record.history.item
            out["history"].append({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in items})
        elif kind == "summary":
            for item in record.summary.update:
                out["summary"]["/".join(item.nested_key) or item.key] = json.loads(item.value_json)
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "artifact":
            out["artifacts"].append(record.artifact)
    return out


def test_wandb_offline_run_files_hold_curves_final_metrics_config_audits_gates_and_the_report(
    run: Path,
) -> None:
    run_id = _json(run / "trackers.json")["wandb"]
    training, end = (_wandb_run(f) for f in sorted((run / "wandb").glob(f"offline-run-*-{run_id}")))
    expected = _expected(run)

    def series(key: str) -> list[tuple[int, float]]:
        return [(row["_step"], row[key]) for row in training["history"] if key in row]

    assert series("train/loss") == expected["loss"]
    assert series("eval/accuracy") == expected["eval_accuracy"]
    for key, value in expected["final"].items():
        assert training["summary"][key] == value, key
    assert training["config"]["train.lr"] == 0.01 and training["config"]["name"] == "tiny"
    for key, value in expected["audits"].items():
        assert end["summary"][key] == value, key
    assert {k: v for k, v in end["summary"].items() if k.startswith("gates/")} == {
        **expected["gates"],
        "gates/passed": 0,
    }
    (artifact,) = end["artifacts"]
    (entry,) = artifact.manifest.contents
    md5 = base64.b64encode(hashlib.md5((run / "report.html").read_bytes()).digest()).decode()
    assert (artifact.type, entry.path, entry.digest) == ("report", "report.html", md5)


def test_tensorboard_events_hold_the_curves_and_the_audit_metrics(run: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "events"))
    events.Reload()
    expected = _expected(run)
    loss = events.Scalars("train/loss")  # TensorBoard keeps float32
    assert [e.step for e in loss] == [step for step, _ in expected["loss"]]
    assert [e.value for e in loss] == pytest.approx([value for _, value in expected["loss"]], rel=1e-6)
    for key, value in expected["audits"].items():
        (point,) = events.Scalars(key)
        assert point.step == expected["steps"] and point.value == pytest.approx(value, rel=1e-6), key


class _Fake(Tracker):
    name = "fake"
    opened = 0

    def start(self, run_id: str | None, purge_step: int | None) -> str | None:
        _Fake.opened += 1
        self.calls: list[Any] = [("start", run_id)]
        return run_id or f"id{_Fake.opened}"

    def params(self, values: dict[str, Any]) -> None:
        self.calls.append(("params", values))

    def finish(self) -> None:
        self.calls.append("finish")


def test_a_reopened_tracker_gets_its_recorded_run_and_only_a_new_run_gets_the_params(tmp_path: Path) -> None:
    fake = _Fake(tmp_path)
    trackers = Trackers([fake], tmp_path, params={"train.lr": 0.1})
    trackers.log({"x": 1.0}, 1)  # not started (as on every process but the main one): nothing happens
    trackers.start(reopen=False)
    first = _json(tmp_path / "trackers.json")["fake"]
    trackers.finish()
    assert fake.calls == [("start", None), ("params", {"train.lr": 0.1}), "finish"]
    trackers.start(reopen=True)
    assert fake.calls == [("start", first)] and _json(tmp_path / "trackers.json")["fake"] == first
    trackers.start(reopen=False)
    assert _json(tmp_path / "trackers.json")["fake"] != first


def test_default_is_tensorboard_and_an_empty_list_logs_nowhere() -> None:
    assert build_config({}).train.trackers() == ["tensorboard"]
    assert build_config({"train": {"report_to": []}}).train.trackers() == []
    assert build_config({"train": {"report_to": ["mlflow", "mlflow"]}}).train.report_to == ["mlflow"]


def test_a_tracker_that_is_not_installed_is_a_config_error_that_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # find_spec answers None: as if not installed
    raw = {"train": {"report_to": ["tensorboard", "wandb"]}}
    with pytest.raises(ConfigError) as err:
        build_config(raw)
    (problem,) = err.value.problems
    assert problem.startswith("train.report_to: ") and "(got ['tensorboard', 'wandb'])" in problem
    assert "wandb is not installed" in problem and "pip install 'fairtune[trackers]'" in problem
    # a finished run's stored config still loads where the tracker is missing (serving, reporting)
    assert build_config(raw, installed=False).train.report_to == ["tensorboard", "wandb"]

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    probe = (
        "import sys\nsys.modules['wandb'] = None\nfrom fairtune.cli import main\nrc = main(sys.argv[1:])\n"
        "print('TORCH', 'torch' in sys.modules)\nsys.exit(rc)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, "train", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2, out.stderr
    assert "TORCH False" in out.stdout
    assert "train.report_to" in out.stderr and "wandb is not installed" in out.stderr
    assert "pip install 'fairtune[trackers]'" in out.stderr
