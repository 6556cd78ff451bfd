"""Encryption at rest end to end: `fairtune run` with `encryption:` on a tiny model leaves no training
text in plaintext anywhere in the run directory or the redaction cache, every later stage reads its data
back with the key, and a missing or wrong key is exit 2 naming the file (or the field) and the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from fairtune import _crypto
from fairtune.cli import main
from fairtune.errors import (
    ENCRYPTED_NO_KEY,
    ENCRYPTED_WRONG_KEY,
    KEY_ENV_UNSET,
    RUN_KEY_MISSING,
    EncryptionError,
)

pytestmark = pytest.mark.integration

ENV = "FT_E2E_KEY"


def _marker(i: int) -> str:
    """A word that occurs in training text only: if any file holds it, training text leaked."""
    return f"zqmark{i:03d}x"


def _config(tmp_path: Path, model_dir: Path) -> Path:
    from fairtune.testing import tiny_sentiment_rows, write_csv

    rows = [
        (f"{text} {_marker(i)}", label) for i, (text, label) in enumerate(tiny_sentiment_rows(60, seed=1))
    ]
    rows += [rows[0]] * 3  # duplicates: the data card quotes them
    rows[1] = (f"Alice said {rows[1][0]}", rows[1][1])
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "eval.csv", tiny_sentiment_rows(32, seed=2))
    off = {"enabled": False}
    cfg = {
        "name": "enc",
        "output_dir": str(tmp_path / "runs"),
        "seed": 7,
        "data": {
            "train": str(tmp_path / "train.csv"),
            "eval": str(tmp_path / "eval.csv"),
            "max_length": 16,
            "redact": True,
        },
        "model": {"name": str(model_dir)},
        "train": {
            "epochs": 2,
            "batch_size": 8,
            "lr": 1e-2,
            "precision": "fp32",
            "save_every": 4,
            "early_stopping": {"patience": 5},
            "eval_every": 4,
            "canaries": {"per_repeat": 2, "repeats": [1, 4], "references": 10},
        },
        "audit": {"fairness": off, "robustness": off, "explain": off},
        "encryption": {"key_env": ENV, "checkpoints": True},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "cfg.yaml"


@pytest.fixture
def fake_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presidio's place taken by a stand-in (names "Alice" only): this test is about the cache, not PII."""
    from fairtune.data import _pii

    class Redactor:
        def __init__(self, settings: object) -> None:
            pass

        def redact(self, texts: list[str]) -> _pii.RedactionResult:
            out = [t.replace("Alice", "<PERSON>") for t in texts]
            return _pii.RedactionResult(out, Counter(PERSON=sum("Alice" in t for t in texts)), 1)

    monkeypatch.setattr(_pii, "PiiRedactor", Redactor)


def _leaks(folder: Path, needles: list[bytes]) -> list[str]:
    """Every file under `folder` that holds one of `needles`, as 'path: needle'."""
    return [
        f"{p.relative_to(folder)}: {n.decode()}"
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        for n in needles
        if n in p.read_bytes()
    ]


def test_a_run_with_encryption_leaves_no_training_text_in_plaintext(
    tmp_path: Path,
    tiny_model_dir: Path,
    fake_redactor: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    key = _crypto.generate_key()
    monkeypatch.setenv(ENV, key)
    cfg = _config(tmp_path, tiny_model_dir)
    assert main(["run", str(cfg), "--no-progress"]) == 0
    run = tmp_path / "runs" / "enc"
    # "Alice said", not "Alice": an encrypted file is base64 text, where five letters occur by chance
    needles = [_marker(i).encode() for i in range(60)] + [b"account number", b"Alice said"]
    assert _leaks(run, needles) == []
    assert _leaks(tmp_path / "cache", needles) == []
    # what holds training text is encrypted; the model, metrics, audits and report are not
    sealed = [run / "data" / "card.json", run / "canaries.json", *(run / "checkpoints").rglob("*.*")]
    sealed += list((tmp_path / "cache" / "fairtune" / "redacted").glob("*.json"))
    assert len(sealed) >= 8 and all(_crypto.is_sealed_file(p) for p in sealed)
    assert (run / "checkpoints" / "best" / "model.safetensors") in sealed
    for plain in ("model/model.safetensors", "metrics.json", "audit/privacy.json", "report.html"):
        assert not _crypto.is_sealed_file(run / plain), plain
    # later stages read the encrypted files back: the privacy audit found its canaries and members
    doc = json.loads((run / "audit" / "privacy.json").read_text())
    assert "canary_exposure_r4" in doc["metrics"] and doc["details"]["membership"]["members"] > 0
    assert "withheld: training texts are encrypted at rest" in (run / "report.html").read_text()
    card = json.loads(_crypto.read_bytes(run / "data" / "card.json"))
    dup = next(f for f in card["findings"] if f["check"] == "train.exact_duplicates")
    assert dup["examples"] and _marker(0) in dup["examples"][0]

    capsys.readouterr()
    monkeypatch.setenv(ENV, _crypto.generate_key())  # another key: the redaction cache says so
    assert main(["audit", str(run), "--only", "privacy"]) == 2
    err = capsys.readouterr().err
    entries = (tmp_path / "cache" / "fairtune" / "redacted").glob("*.json")
    assert err in [f"error: {ENCRYPTED_WRONG_KEY.format(path=p, env=ENV)}\n" for p in entries]
    monkeypatch.delenv(ENV)  # no key: the CLI says so before any work; the workflow names the file
    assert main(["report", str(run)]) == 2
    assert capsys.readouterr().err == f"error: {RUN_KEY_MISSING.format(path=run, env=ENV)}\n"
    from fairtune.workflows.report import report

    with pytest.raises(EncryptionError) as exc:
        report(run)
    assert str(exc.value) == ENCRYPTED_NO_KEY.format(path=run / "data" / "card.json", env=ENV)


PROBE = (
    "import sys\nfrom fairtune.cli import main\nrc = main(sys.argv[1:])\n"
    "print('TORCH', 'torch' in sys.modules)\nsys.exit(rc)"
)


def _without_key(tmp_path: Path, *argv: str) -> str:
    """Run the CLI with `argv` and no key; assert exit 2 before torch, without a traceback; the stderr."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 2, out.stderr
    assert "TORCH False" in out.stdout and "Traceback" not in out.stderr
    return out.stderr


def test_a_missing_key_is_exit_2_naming_the_variable_before_torch_and_before_any_write(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "runs"), "encryption": {"key_env": ENV}}))
    unset = KEY_ENV_UNSET.format(env=ENV).removeprefix("encryption.key_env: ")
    for verb in ("run", "train", "data", "validate"):
        err = _without_key(tmp_path, verb, str(cfg))
        assert f"encryption.key_env: {unset[0].lower()}{unset[1:]}" in err, verb
    assert not (tmp_path / "runs").exists()
    # commands on a run that encrypts its training text need the key too, and say so at once
    run = tmp_path / "runs" / "r"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    (run / "config.yaml").write_text(yaml.safe_dump({"name": "r", "encryption": {"key_env": ENV}}))
    (tmp_path / "new.csv").write_text("text,label\na,b\n")
    for argv in (
        ["audit", str(run)],
        ["evaluate", str(run)],
        ["report", str(run)],
        ["mitigate", str(run), "--fairness", "cda"],
        ["compress", str(run), "--int8"],
        ["update", str(run), "--data", str(tmp_path / "new.csv")],
    ):
        assert _without_key(tmp_path, *argv) == f"error: {RUN_KEY_MISSING.format(path=run, env=ENV)}\n", argv


@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").is_file(), reason="wordnet-base not installed")
def test_with_no_quoted_examples_the_audits_and_report_hold_no_text_of_the_data_either(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What docs/privacy.md says: the audits quote eval texts (here a split of the training file) unless
    their example settings are 0; then no text of the user's data is anywhere in the run directory."""
    from fairtune.testing import tiny_sentiment_rows, write_csv

    monkeypatch.setenv(ENV, _crypto.generate_key())
    rows = [
        (f"{text} {_marker(i)}", label) for i, (text, label) in enumerate(tiny_sentiment_rows(80, seed=1))
    ]
    write_csv(tmp_path / "train.csv", rows)
    cfg = {
        "name": "quiet",
        "output_dir": str(tmp_path / "runs"),
        "data": {"train": str(tmp_path / "train.csv"), "eval_fraction": 0.25, "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {"epochs": 1, "batch_size": 8, "lr": 1e-2, "precision": "fp32"},
        "audit": {
            "fairness": {"worst_examples": 0},
            "robustness": {"worst_examples": 0, "sample": 10},
            "explain": {"examples": 0, "sample": 10},
        },
        "encryption": {"key_env": ENV},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(tmp_path / "cfg.yaml"), "--no-progress"]) == 0
    run = tmp_path / "runs" / "quiet"
    assert sorted(p.stem for p in (run / "audit").glob("*.json")) == [
        "explain",
        "fairness",
        "privacy",
        "robustness",
    ]
    assert _leaks(run, [_marker(i).encode() for i in range(80)]) == []
