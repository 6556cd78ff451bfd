"""`fairtune update`: a child trained from the parent on new data plus replayed old rows, scored on the
old and the new eval data, audited, compared, and promoted (current.json, which serve follows) only when
nothing blocks; bad input is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fairtune.cli import main
from fairtune.evaluation._promotion import compare_metrics
from fairtune.testing import tiny_biased_rows, tiny_run_config, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("update")
    cfg = tiny_run_config(root, tiny_model_dir)
    cfg["train"]["epochs"] = 4
    cfg["audit"] = {
        "fairness": {"enabled": True, "eec": None, "permutations": 100, "bootstrap": 100},
        "robustness": {"enabled": False},
        "explain": {"enabled": False},
        "privacy": {"enabled": False},
    }
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(root / "cfg.yaml"), "--no-progress"]) in (0, 3)
    return root / "runs" / "tiny"


def test_a_child_is_trained_compared_and_promoted_and_serve_follows_it(parent: Path, tmp_path: Path) -> None:
    from fairtune._rundir import RunDir
    from fairtune.workflows.serve import load_served

    new = write_csv(tmp_path / "new.csv", tiny_biased_rows(60, seed=9))
    argv = ["update", str(parent), "--data", str(new), "--name", "u1", "--replay", "0.5", "--no-progress"]
    rc = main([*argv, "--tolerance", "100"])  # a tiny model's audit metrics move a lot: promote it anyway
    doc = json.loads((parent / "updates" / "u1" / "update.json").read_text())
    assert rc == 0 and doc["promoted"] and doc["blocked_by"] == []
    assert doc["data"]["rows"] == {"new_train": 48, "replayed": 24, "new_eval": 12, "old_eval": 32}
    metrics = {r["metric"] for r in doc["comparison"]}
    assert {
        "eval.accuracy",
        "new.accuracy",
        "fairness.identity_fped",
    } <= metrics  # old eval, new eval, audits
    ccfg = yaml.safe_load((parent / "updates" / "u1" / "config.yaml").read_text())
    assert ccfg["model"]["name"] == str(parent / "model")  # warm-started from the parent's weights
    pcfg = yaml.safe_load((parent / "config.yaml").read_text())
    # ...while the attack's similarity encoder stays the parent's foundation model: same constraint
    assert ccfg["audit"]["robustness"]["similarity_model"] == pcfg["model"]["name"] != ccfg["model"]["name"]
    current = json.loads((parent / "current.json").read_text())
    assert current["model"] == "updates/u1/model" and current["lineage"] == ["model", "updates/u1/model"]
    assert RunDir(parent).current_model == parent / "updates" / "u1" / "model"
    _, info, _ = load_served(parent, None)
    assert info["promoted"] == "updates/u1/model"

    # strict: any metric worse at all blocks; the verdict follows the comparison rows exactly
    strict_argv = ["update", str(parent), "--data", str(new), "--name", "u2", "--no-progress", "--lr", "3e-4"]
    assert main([*strict_argv, "--tolerance", "0", "--relative-tolerance", "0"]) in (0, 3)
    strict = json.loads((parent / "updates" / "u2" / "update.json").read_text())
    assert strict["train"]["lr"] == 3e-4  # --lr sets the refresh's peak learning rate, and is recorded
    assert yaml.safe_load((parent / "updates" / "u2" / "config.yaml").read_text())["train"]["lr"] == 3e-4
    assert strict["compared_with"] == str(parent / "updates" / "u1")  # the model served now, not the first
    worse = [r["metric"] for r in strict["comparison"] if r["worse_by"] > 0]
    assert [b.split(" ")[0] for b in strict["blocked_by"]] == worse and strict["promoted"] == (not worse)
    assert json.loads((parent / "current.json").read_text())["model"] == (
        "updates/u2/model" if strict["promoted"] else "updates/u1/model"
    )


def test_a_metric_worse_than_the_tolerance_blocks_the_promotion() -> None:
    parent = {"eval.accuracy": 0.90, "new.accuracy": 0.70, "fairness.flip_rate": 0.02, "eval.ece": 0.05}
    child = {"eval.accuracy": 0.895, "new.accuracy": 0.85, "fairness.flip_rate": 0.05, "eval.ece": 0.04}
    rows = {r["metric"]: r for r in compare_metrics(parent, child, tolerance=0.01, relative=0.05)}
    assert not rows["eval.accuracy"]["blocks"]  # 0.5 points worse, within 1 point
    assert not rows["new.accuracy"]["blocks"] and rows["new.accuracy"]["worse_by"] == 0
    assert rows["fairness.flip_rate"]["blocks"]  # 0.03 worse (lower is better), beyond 0.01
    assert rows["fairness.flip_rate"]["worse_by"] == pytest.approx(0.03)
    assert not rows["eval.ece"]["blocks"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--replay", "-1"], "--replay: -1.0 is outside [0.0, 10.0]"),
        (["--eval-fraction", "0.9"], "--eval-fraction: 0.9 is outside"),
        (["--lr", "0"], "--lr: 0.0 is outside"),
        (["--data", "{tmp}/nope.csv"], "--data: file not found"),
        (["--data", "{other}"], "not in"),
        (["--data", "{few}"], "an update needs at least 20"),
    ],
)
def test_bad_input_is_exit_2_naming_the_flag(
    parent: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    other = write_csv(tmp_path / "other.csv", [(t, "neutral") for t, _ in tiny_biased_rows(30, seed=3)])
    few = write_csv(tmp_path / "few.csv", tiny_biased_rows(10, seed=3))
    good = write_csv(tmp_path / "new.csv", tiny_biased_rows(40, seed=3))
    args = [a.format(tmp=tmp_path, other=other, few=few) for a in args]
    argv = ["update", str(parent), *(args if "--data" in args else ["--data", str(good), *args])]
    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_a_parent_trained_on_integer_labels_takes_new_rows_with_label_names(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """SST-2's files hold 0/1 with data.label_names [negative, positive]; new data says the names."""
    from fairtune.testing import tiny_sentiment_rows

    ids = {"negative": 0, "positive": 1}
    cfg = tiny_run_config(tmp_path, tiny_model_dir)
    for split, n, seed in (("train", 96, 1), ("eval", 32, 2)):
        rows = [(t, ids[y]) for t, y in tiny_sentiment_rows(n, seed=seed)]
        cfg["data"][split] = str(write_csv(tmp_path / f"{split}-ids.csv", rows))
    cfg["data"]["label_names"] = ["negative", "positive"]
    cfg["audit"] = {name: {"enabled": False} for name in ("fairness", "robustness", "explain", "privacy")}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "cfg.yaml"), "--no-progress"]) == 0
    new = write_csv(tmp_path / "new.csv", tiny_sentiment_rows(40, seed=5))  # "positive"/"negative"
    run = tmp_path / "runs" / "tiny"
    assert (
        main(["update", str(run), "--data", str(new), "--name", "u", "--tolerance", "100", "--no-progress"])
        == 0
    )
    doc = json.loads((run / "updates" / "u" / "update.json").read_text())
    rows = {r["metric"]: r for r in doc["comparison"]}
    assert 0 <= rows["new.accuracy"]["parent"] <= 1 and 0 <= rows["new.accuracy"]["child"] <= 1


def test_a_served_run_audited_by_another_auditor_version_is_audited_again_first(
    parent: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """update compares the refresh with what today's auditors say of the served model."""
    from fairtune._rundir import RunDir
    from fairtune.workflows.update import served_run

    base = served_run(RunDir(parent)).root
    path = base / "audit" / "fairness.json"
    doc = json.loads(path.read_text())
    doc["provenance"]["code"] = "0" * 16  # another version of the fairness auditor wrote it
    path.write_text(json.dumps(doc))
    new = write_csv(tmp_path / "new.csv", tiny_biased_rows(60, seed=11))
    argv = ["update", str(parent), "--data", str(new), "--name", "u3", "--no-progress", "--tolerance", "100"]
    assert main(argv) in (0, 3)
    out = capsys.readouterr().err  # the log is on stderr
    assert (
        f"update: auditing {base} again before the comparison (audit/fairness.json: written by another" in out
    )
    assert json.loads(path.read_text())["provenance"]["code"] != "0" * 16
