"""The real `fairtune` CLI on a tiny model: happy path in a subprocess, bad input in-process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fairtune.cli import main
from fairtune.errors import CORRUPT_JSON, MODEL_NO_CONFIG, PREDICT_NO_TEXTS, RUN_DIR_MISSING

pytestmark = pytest.mark.integration


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fairtune", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def _config_file(tmp_path: Path, raw: dict) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def test_train_evaluate_predict_end_to_end(tmp_path: Path, tiny_config: dict) -> None:
    cfg = _config_file(tmp_path, tiny_config)
    run_dir = Path(tiny_config["output_dir"]) / "tiny-cli"
    res = _cli("train", str(cfg), "--no-progress", "name=tiny-cli", "train.epochs=8")
    assert res.returncode == 0, res.stderr
    assert "trained 96 steps" in res.stdout and "accuracy" in res.stdout
    assert (run_dir / "model/model.safetensors").is_file()

    res = _cli("evaluate", str(run_dir), "--json")
    assert res.returncode == 0, res.stderr
    ev = json.loads(res.stdout)
    assert ev["accuracy"] >= 0.9 and ev["confusion_matrix"] and 0 <= ev["ece"] <= 1
    assert set(ev["per_class"]) == {"negative", "positive"}
    other = tmp_path / "other.csv"
    other.write_text("text,label\nthe film was great,positive\nawful and dull,negative\n")
    res = _cli("evaluate", str(run_dir), "--data", str(other))
    assert res.returncode == 0, res.stderr
    assert "confusion matrix" in res.stdout
    doc = json.loads((run_dir / "metrics.json").read_text())
    assert str(other) in doc["evals"] and doc["eval"]["accuracy"] == ev["accuracy"]

    texts = tmp_path / "texts.txt"
    texts.write_text("a superb and lovely film\nterrible boring plot\n")
    res = _cli("predict", str(run_dir), "a great story", "--file", str(texts), "--json")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["label"] for r in rows] == ["positive", "positive", "negative"]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in rows)
    res = _cli("predict", str(run_dir), "a great story")
    assert res.returncode == 0 and "positive" in res.stdout


def test_validate_reports_every_problem_at_once(tmp_path: Path, tiny_config: dict, capsys) -> None:
    raw = {**tiny_config, "train": {**tiny_config["train"], "batchsize": 4}}
    bad = _config_file(tmp_path, raw)
    assert main(["validate", str(bad)]) == 2
    assert "Did you mean 'train.batch_size'?" in capsys.readouterr().err
    raw = {
        **tiny_config,
        "data": {**tiny_config["data"], "text_column": "review"},
        "model": {"name": str(tmp_path)},
    }
    assert main(["validate", str(_config_file(tmp_path, raw))]) == 2
    err = capsys.readouterr().err
    assert "data.text_column: column 'review' not in" in err
    assert MODEL_NO_CONFIG.format(path=tmp_path) in err
    assert "Traceback" not in err
    # schema problems and data problems in one config: both are reported, at once
    raw = {
        **tiny_config,
        "train": {**tiny_config["train"], "learning_rate": 1e-3},
        "data": {**tiny_config["data"], "text_column": "review"},
    }
    assert main(["validate", str(_config_file(tmp_path, raw))]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'train.lr'?" in err and "data.text_column: column 'review' not in" in err
    assert main(["validate", str(_config_file(tmp_path, tiny_config))]) == 0
    assert "train_rows: 96" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv_fn, expected",
    [
        (
            lambda p: ["evaluate", str(p / "no-such-run")],
            lambda p: RUN_DIR_MISSING.format(path=p / "no-such-run"),
        ),
        (lambda p: ["predict", str(p)], lambda p: PREDICT_NO_TEXTS),
        (lambda p: ["train", str(p / "missing.yaml")], lambda p: "config: file not found"),
        (lambda p: ["train", str(p / "missing.yaml"), "train.lr"], lambda p: "expected KEY=VALUE"),
    ],
)
def test_usage_errors_exit_2_without_traceback(tmp_path: Path, capsys, argv_fn, expected) -> None:
    assert main(argv_fn(tmp_path)) == 2
    err = capsys.readouterr().err
    assert expected(tmp_path) in err and "Traceback" not in err


def test_corrupt_metrics_json_is_named(tmp_path: Path, tiny_config: dict, capsys) -> None:
    cfg = _config_file(tmp_path, {**tiny_config, "train": {**tiny_config["train"], "epochs": 1}})
    assert main(["train", str(cfg), "--no-progress"]) == 0
    run_dir = Path(tiny_config["output_dir"]) / "tiny"
    (run_dir / "metrics.json").write_text('{"eval": {"accur')
    capsys.readouterr()
    assert main(["evaluate", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert str(run_dir / "metrics.json") in err and "not valid JSON" in err
    assert CORRUPT_JSON.split("{path}")[1].split("(")[0] in err


def test_train_writes_nothing_when_data_is_bad(tmp_path: Path, tiny_config: dict, capsys) -> None:
    raw = {**tiny_config, "data": {**tiny_config["data"], "label_column": "stars"}}
    assert main(["train", str(_config_file(tmp_path, raw))]) == 2
    assert "data.label_column: column 'stars' not in" in capsys.readouterr().err
    assert not (Path(tiny_config["output_dir"]) / "tiny").exists()


def test_help_is_fast_and_lists_verbs() -> None:
    res = _cli("--help")
    assert res.returncode == 0
    for verb in ("train", "evaluate", "predict", "validate"):
        assert verb in res.stdout
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, fairtune.cli; fairtune.cli.build_parser(); print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "False"  # heavy imports stay inside the commands


def test_every_flag_an_error_message_suggests_exists() -> None:
    import fairtune.errors as errors
    from fairtune.cli import build_parser

    parser = build_parser()
    flags = set(parser._option_string_actions)
    for sub in parser._subparsers._group_actions[0].choices.values():  # type: ignore[union-attr]
        flags |= set(sub._option_string_actions)
    outside = {"--no-install-recommends"}  # apt-get's, in the WordNet install hint
    suggested = {
        (name, flag)
        for name, text in vars(errors).items()
        if isinstance(text, str)
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", text)
    }
    assert len(suggested) > 10
    missing = sorted((name, flag) for name, flag in suggested if flag not in flags | outside)
    assert missing == []
