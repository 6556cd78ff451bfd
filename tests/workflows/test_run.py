"""`fairtune run`: stages skip once done, --force redoes, gates set the exit code, bad run dirs refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fairtune._stages import STAGES
from fairtune.cli import main

pytestmark = pytest.mark.integration


def _cfg(tmp_path: Path, raw: dict, name: str = "cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(raw))
    return p


def _stages(run: Path) -> dict:
    return json.loads((run / "stages.json").read_text())


def test_run_skips_done_stages_and_force_redoes_later_ones(tmp_path: Path, tiny_config: dict, capsys) -> None:
    cfg = _cfg(tmp_path, {**tiny_config, "gates": {"eval.accuracy": {"min": 0.5}}})
    run = Path(tiny_config["output_dir"]) / "tiny"
    assert main(["run", str(cfg), "--no-progress"]) == 0
    for rel in (
        "data/card.json",
        "model/model.safetensors",
        "metrics.json",
        "report.html",
        "report.md",
        "summary.json",
        "gates.json",
        "model/README.md",
    ):
        assert (run / rel).is_file(), rel
    first = _stages(run)
    assert all(first[s]["done"] for s in STAGES)
    capsys.readouterr()

    assert main(["run", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert all(f"{s}: already done" in out for s in STAGES)
    assert _stages(run) == first

    assert main(["run", str(cfg), "--no-progress", "--force", "evaluate"]) == 0
    again = _stages(run)
    assert again["data"] == first["data"] and again["train"] == first["train"]
    assert again["evaluate"]["finished"] >= first["evaluate"]["finished"]
    assert "evaluate: running" in capsys.readouterr().out
    assert main(["run", str(cfg), "--force", "everything"]) == 2
    capsys.readouterr()

    # a new gate threshold is not a new run: only the report stage (which reads gates) is redone
    stricter = _cfg(tmp_path, {**tiny_config, "gates": {"eval.accuracy": {"min": 1.5}}}, "stricter.yaml")
    assert main(["run", str(stricter), "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert "train: already done" in out and "report: its config inputs changed" in out
    assert json.loads((run / "gates.json").read_text())["gates"][0]["min"] == 1.5

    # after an upgrade that changed an auditor's code, the audits (and the report) are redone, nothing else
    path = sorted((run / "audit").glob("*.json"))[0]
    doc = json.loads(path.read_text())
    doc["provenance"]["code"] = "0" * 16
    path.write_text(json.dumps(doc))
    assert main(["run", str(stricter), "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert "train: already done" in out and "evaluate: already done" in out
    assert f"audit: audit/{path.stem}.json: written by another version of the {path.stem} auditor" in out
    assert json.loads(path.read_text())["provenance"]["code"] != "0" * 16
    assert main(["run", str(stricter), "--no-progress"]) == 3
    assert "audit: already done" in capsys.readouterr().out


def test_gate_exit_code_both_ways(tmp_path: Path, tiny_config: dict, capsys) -> None:
    raw = {**tiny_config, "gates": {"eval.accuracy": {"min": 0.8}, "eval.ece": {"max": 0.5}}}
    assert main(["run", str(_cfg(tmp_path, raw)), "--no-progress"]) == 0
    gates = json.loads((Path(tiny_config["output_dir"]) / "tiny/gates.json").read_text())
    assert gates["passed"] is True and [g["metric"] for g in gates["gates"]] == ["eval.accuracy", "eval.ece"]
    assert {"metric", "value", "min", "passed"} <= set(gates["gates"][0])
    capsys.readouterr()

    raw = {**raw, "name": "strict", "gates": {"eval.accuracy": {"min": 1.01}}}
    assert main(["run", str(_cfg(tmp_path, raw, "strict.yaml")), "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert (
        "1 gate(s) failed" in err and "eval.accuracy" in err and "needs >= 1.01" in err and "missed by" in err
    )
    gates = json.loads((Path(tiny_config["output_dir"]) / "strict/gates.json").read_text())
    assert gates["passed"] is False and gates["gates"][0]["passed"] is False


def test_unknown_gate_metric_is_a_config_error_before_training(
    tmp_path: Path, tiny_config: dict, capsys
) -> None:
    raw = {**tiny_config, "gates": {"eval.acuracy": {"min": 0.9}}}
    assert main(["run", str(_cfg(tmp_path, raw)), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "gates.eval.acuracy: unknown metric 'eval.acuracy'. Did you mean 'eval.accuracy'?" in err
    assert not (Path(tiny_config["output_dir"]) / "tiny").exists()


def test_run_dir_of_another_config_is_refused(tmp_path: Path, tiny_config: dict, capsys) -> None:
    raw = {**tiny_config, "train": {**tiny_config["train"], "epochs": 1}}
    assert main(["run", str(_cfg(tmp_path, raw)), "--no-progress"]) == 0
    capsys.readouterr()
    other = {**raw, "seed": 99, "train": {**raw["train"], "lr": 0.5}}
    assert main(["run", str(_cfg(tmp_path, other, "other.yaml")), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "made with a different config (differing keys: seed, train.lr)" in err
    assert "Traceback" not in err
    # the advice names a command and a flag that exist (`run` itself has no --overwrite)
    assert "`fairtune train CONFIG --overwrite`" in err.replace("\n", " ")
    from fairtune.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    assert "--overwrite" in train._option_string_actions


def test_report_on_a_missing_run_dir(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "run directory not found" in capsys.readouterr().err


def test_compare_puts_runs_side_by_side(tmp_path: Path, tiny_config: dict, capsys) -> None:
    raw = {**tiny_config, "train": {**tiny_config["train"], "epochs": 1}}
    assert main(["run", str(_cfg(tmp_path, raw)), "--no-progress"]) == 0
    assert main(["run", str(_cfg(tmp_path, {**raw, "name": "b"}, "b.yaml")), "--no-progress"]) == 0
    capsys.readouterr()
    out_dir = Path(tiny_config["output_dir"])
    assert main(["compare", str(out_dir / "tiny"), str(out_dir / "b"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "eval.accuracy" in doc["metrics"] and len(doc["runs"]) == 2
    assert doc["auditors_differ"] == {}  # one version of fairtune audited both
    path = sorted((out_dir / "b" / "audit").glob("*.json"))[0]
    audit = json.loads(path.read_text())
    audit.pop("provenance")  # as an earlier version of fairtune wrote it
    path.write_text(json.dumps(audit))
    assert main(["compare", str(out_dir / "tiny"), str(out_dir / "b")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"audit/{path.stem}.json was written by different versions of the {path.stem} auditor" in err
    assert f"{out_dir / 'b'}: unrecorded" in err and f"fairtune audit RUN_DIR --only {path.stem}" in err


def test_sigkill_mid_training_then_rerun_matches_uninterrupted(tmp_path: Path, tiny_config: dict) -> None:
    raw = {**tiny_config, "train": {**tiny_config["train"], "epochs": 40}}  # 480 steps
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "fairtune", "run", str(_cfg(tmp_path, raw)), "--no-progress"]
    run = Path(tiny_config["output_dir"]) / "tiny"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list((run / "checkpoints").glob("step-00001[0-9]0")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "model").exists(), "training finished before the kill; the test did not interrupt it"
    before = _stages(run)
    assert before["data"]["done"] and "train" not in before
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "data: already done" in res.stdout and "train: running" in res.stdout
    assert _stages(run)["data"] == before["data"]

    ref = {**raw, "output_dir": str(tmp_path / "ref")}
    ref_cmd = [sys.executable, "-m", "fairtune", "run", str(_cfg(tmp_path, ref, "ref.yaml")), "--no-progress"]
    assert subprocess.run(ref_cmd, env=env, capture_output=True, timeout=400).returncode == 0
    resumed = json.loads((run / "metrics.json").read_text())["eval"]
    reference = json.loads((tmp_path / "ref/tiny/metrics.json").read_text())["eval"]
    assert resumed["loss"] == reference["loss"] and resumed["accuracy"] == reference["accuracy"]
    assert resumed["confusion_matrix"] == reference["confusion_matrix"]


def test_a_fresh_train_then_report_reads_not_run_and_report_exits_3_on_a_failed_gate(
    tmp_path: Path, tiny_config: dict, capsys
) -> None:
    gates = {
        "eval.accuracy": {"min": 0.5},
        "fairness.flip_rate": {"max": 0.1},  # the fairness audit has not run after `train`
        "robustness.attack_success_rate": {"max": 0.5},
    }
    cfg = _cfg(tmp_path, {**tiny_config, "gates": gates})
    assert main(["train", str(cfg), "--no-progress"]) == 0
    run = Path(tiny_config["output_dir"]) / "tiny"
    assert main(["report", str(run)]) == 0  # stages that have not run fail nothing
    out = capsys.readouterr().out
    assert "not run fairness.flip_rate" in out and "FAIL" not in out
    doc = json.loads((run / "gates.json").read_text())
    assert [g["status"] for g in doc["gates"]] == ["pass", "not run", "not run"] and doc["passed"] is True
    card = (run / "model" / "README.md").read_text()
    assert "`fairness.flip_rate`: not run" in card and "value None" not in card and "FAIL" not in card
    html = (run / "report.html").read_text()
    assert "2 not run yet" in html
    # a gate that was measured and missed: exit 3, as `fairtune run` does, with the miss rounded
    stored = yaml.safe_load((run / "config.yaml").read_text())
    stored["gates"] = {"eval.accuracy": {"min": 1.34}}
    (run / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    assert main(["report", str(run)]) == 3
    missed = json.loads((run / "gates.json").read_text())["gates"][0]
    acc = json.loads((run / "metrics.json").read_text())["eval"]["accuracy"]
    assert missed["status"] == "fail" and missed["missed_by"] == round(1.34 - acc, 12)
    assert "FAIL eval.accuracy" in capsys.readouterr().out
