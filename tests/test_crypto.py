"""Encryption at rest (`fairtune._crypto`): the file format, the errors for a missing, malformed or wrong
key, the config check, and each reader and writer that goes through it (JSON, data files, checkpoints,
the redaction cache, the CLI's keygen and decrypt)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from fairtune import _crypto
from fairtune._io import atomic_write_json, atomic_write_text, read_json
from fairtune.config import EncryptionConfig, build_config
from fairtune.errors import (
    ENCRYPTED_BAD_KEY,
    ENCRYPTED_NO_KEY,
    ENCRYPTED_WRONG_KEY,
    KEY_ENV_UNSET,
    KEY_NOT_FERNET,
    NOT_ENCRYPTED,
    ConfigError,
    EncryptionError,
)

ENV = "FT_TEST_KEY"
SECRET = "the movie zqsecretx was great"


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = _crypto.generate_key()
    monkeypatch.setenv(ENV, value)
    return value


@pytest.fixture
def enc(key: str) -> EncryptionConfig:
    return EncryptionConfig(key_env=ENV)


def _message(template: str, path: Path) -> str:
    return template.format(path=path, env=ENV)


def test_a_sealed_file_names_its_variable_and_holds_no_plaintext(
    tmp_path: Path, enc: EncryptionConfig
) -> None:
    path = tmp_path / "doc.json"
    atomic_write_json(path, {"text": SECRET}, enc)
    raw = path.read_bytes()
    assert raw.startswith(b"fairtune-encrypted v1 FT_TEST_KEY\n") and b"zqsecretx" not in raw
    assert _crypto.is_sealed_file(path) and read_json(path) == {"text": SECRET}
    atomic_write_json(path, {"text": SECRET})  # no encryption: plaintext, read the same way
    assert not _crypto.is_sealed_file(path) and read_json(path) == {"text": SECRET}


def test_no_key_another_key_a_malformed_key_and_an_altered_file_are_named_errors(
    tmp_path: Path, enc: EncryptionConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "card.json"
    atomic_write_json(path, {"text": SECRET}, enc)
    monkeypatch.delenv(ENV)
    with pytest.raises(EncryptionError) as no_key:
        read_json(path)
    assert str(no_key.value) == _message(ENCRYPTED_NO_KEY, path)
    monkeypatch.setenv(ENV, _crypto.generate_key())
    with pytest.raises(EncryptionError) as wrong:
        read_json(path)
    assert str(wrong.value) == _message(ENCRYPTED_WRONG_KEY, path)
    monkeypatch.setenv(ENV, "not a key")
    with pytest.raises(EncryptionError) as bad:
        read_json(path)
    assert str(bad.value) == _message(ENCRYPTED_BAD_KEY, path)


def test_an_altered_byte_is_refused_not_decrypted_to_garbage(tmp_path: Path, enc: EncryptionConfig) -> None:
    path = tmp_path / "canaries.json"
    atomic_write_json(path, {"text": SECRET}, enc)
    raw = bytearray(path.read_bytes())
    raw[-10] = ord("A") if raw[-10] != ord("A") else ord("B")
    path.write_bytes(bytes(raw))
    with pytest.raises(EncryptionError, match="written with another key, or the file was altered"):
        read_json(path)
    path.write_bytes(b"fairtune-encrypted v9 FT_TEST_KEY\nxyz")
    with pytest.raises(EncryptionError, match="not one this version reads"):
        read_json(path)


def test_writing_without_a_usable_key_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(EncryptionError, match=f"environment variable {ENV} is not set.*fairtune keygen"):
        atomic_write_text(tmp_path / "a.jsonl", SECRET, EncryptionConfig.model_construct(key_env=ENV))
    monkeypatch.setenv(ENV, "short")
    with pytest.raises(EncryptionError) as bad:
        atomic_write_text(tmp_path / "a.jsonl", SECRET, EncryptionConfig.model_construct(key_env=ENV))
    assert str(bad.value) == KEY_NOT_FERNET.format(env=ENV)
    assert list(tmp_path.iterdir()) == []


def test_the_config_checks_the_key_with_every_other_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ConfigError) as exc:
        build_config({"encryption": {"key_env": ENV}, "train": {"lr": -1}})
    problems = exc.value.problems
    assert any(p.startswith("train.lr:") for p in problems)
    unset = KEY_ENV_UNSET.format(env=ENV).removeprefix("encryption.key_env: ")
    assert any(p.startswith("encryption.key_env: " + unset[0].lower() + unset[1:]) for p in problems)
    with pytest.raises(ConfigError, match=r"encryption.key_env: string should match pattern"):
        build_config({"encryption": {"key_env": "NOT-A-NAME"}}, installed=False)
    stored = build_config({"encryption": {"key_env": ENV}}, installed=False)  # a finished run's config
    assert stored.encryption is not None and stored.encryption.checkpoints is False
    assert build_config({}).encryption is None


def test_data_files_written_encrypted_read_back_in_every_format(
    tmp_path: Path, enc: EncryptionConfig
) -> None:
    import pandas as pd

    from fairtune._io import atomic_write_bytes
    from fairtune.data._read import read_table

    frame = pd.DataFrame({"text": [SECRET, "dull"], "label": ["positive", "negative"]})
    jsonl = "".join(json.dumps(r) + "\n" for r in frame.to_dict("records"))
    atomic_write_text(tmp_path / "a.jsonl", jsonl, enc)
    atomic_write_text(tmp_path / "a.csv", frame.to_csv(index=False), enc)
    atomic_write_bytes(tmp_path / "a.parquet", frame.to_parquet(), enc)
    for name in ("a.jsonl", "a.csv", "a.parquet"):
        assert b"zqsecretx" not in (tmp_path / name).read_bytes()
        table = read_table(tmp_path / name)
        assert table.frame["text"].tolist() == [SECRET, "dull"], name


def test_checkpoints_written_encrypted_resume_the_same_state(tmp_path: Path, enc: EncryptionConfig) -> None:
    import torch

    from fairtune.training._checkpoint import TrainState, load_checkpoint, save_checkpoint

    def parts() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        opt = torch.optim.AdamW(model.parameters(), lr=0.1)
        return model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)

    model, opt, sched = parts()
    model(torch.ones(3, 4)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path, model, opt, sched, TrainState(step=5, samples=40), encryption=enc)
    assert sorted(p.name for p in path.iterdir()) == [
        "model.safetensors",
        "optimizer.pt",
        "trainer_state.json",
    ]
    assert all(_crypto.is_sealed_file(p) for p in path.iterdir())
    fresh, fresh_opt, fresh_sched = parts()
    state = load_checkpoint(path, fresh, fresh_opt, fresh_sched)
    assert state.step == 5 and state.samples == 40
    assert torch.equal(fresh.weight, model.weight)
    assert torch.equal(fresh_opt.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_the_redaction_cache_is_encrypted_and_needs_its_key(
    tmp_path: Path, enc: EncryptionConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fairtune.data import _pii

    class Redactor:
        def __init__(self, settings: object) -> None:
            pass

        def redact(self, texts: list[str]) -> _pii.RedactionResult:
            return _pii.RedactionResult([t.replace("Alice", "<PERSON>") for t in texts], Counter(PERSON=1), 1)

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_pii, "PiiRedactor", Redactor)
    settings = _pii.PiiSettings()
    texts = [f"Alice said {SECRET}"]
    assert _pii.redact_texts_cached(texts, settings).texts == [f"<PERSON> said {SECRET}"]
    (entry,) = (tmp_path / "fairtune" / "redacted").glob("*.json")
    assert b"zqsecretx" in entry.read_bytes()  # a cache entry of a run without encryption
    monkeypatch.setattr(_pii, "PiiRedactor", None)  # from here on, only the cache can answer
    assert _pii.redact_texts_cached(texts, settings, enc).texts == [f"<PERSON> said {SECRET}"]
    assert _crypto.is_sealed_file(entry) and b"zqsecretx" not in entry.read_bytes()  # encrypted on reuse
    assert _pii.redact_texts_cached(texts, settings).texts == [f"<PERSON> said {SECRET}"]
    monkeypatch.delenv(ENV)
    with pytest.raises(EncryptionError) as exc:
        _pii.redact_texts_cached(texts, settings)
    assert str(exc.value) == _message(ENCRYPTED_NO_KEY, entry)


def test_keygen_makes_a_usable_key_and_decrypt_prints_the_plaintext(
    tmp_path: Path, key: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fairtune.cli import main

    assert main(["keygen"]) == 0
    made = capsys.readouterr().out.strip()
    assert made != key and _crypto.key_problem(ENV) is None
    monkeypatch.setenv(ENV, made)
    path = tmp_path / "augment.jsonl"
    atomic_write_text(path, SECRET + "\n", EncryptionConfig(key_env=ENV))
    assert main(["decrypt", str(path)]) == 0
    assert capsys.readouterr().out == SECRET + "\n"
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    assert main(["decrypt", str(plain)]) == 2
    assert NOT_ENCRYPTED.format(path=plain) in capsys.readouterr().err
    monkeypatch.setenv(ENV, key)
    assert main(["decrypt", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {_message(ENCRYPTED_WRONG_KEY, path)}\n"


def test_turning_encryption_on_redoes_the_stages_that_write_training_text(
    tiny_config: dict, key: str
) -> None:
    from fairtune._stages import fingerprint

    plain = build_config(tiny_config)
    sealed = build_config({**tiny_config, "encryption": {"key_env": ENV}})
    changed = [
        s
        for s in ("data", "train", "evaluate", "audit", "report")
        if fingerprint(plain, s) != fingerprint(sealed, s)
    ]
    assert changed == ["data", "train"]


def test_pretraining_refuses_to_promise_encrypted_checkpoints(tmp_path: Path, key: str) -> None:
    from fairtune.errors import ENCRYPTED_PRETRAIN_CHECKPOINTS
    from fairtune.workflows.pretrain import pretrain

    raw = {
        "pretrain": {"data": str(tmp_path / "texts.txt")},
        "encryption": {"key_env": ENV, "checkpoints": True},
    }
    with pytest.raises(ConfigError) as exc:
        pretrain(build_config(raw))
    assert str(exc.value) == ENCRYPTED_PRETRAIN_CHECKPOINTS
