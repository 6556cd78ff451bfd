from __future__ import annotations

from pathlib import Path

import pytest

from fairtune.config import ModelConfig
from fairtune.errors import MODEL_NO_CONFIG, MODEL_PATH_MISSING, ConfigError
from fairtune.models import build_classifier, packaged_minilm_path, resolve_model


def test_minilm_alias_is_the_packaged_model() -> None:
    path, local = resolve_model("minilm")
    assert local and Path(path) == packaged_minilm_path()
    assert (Path(path) / "model.safetensors").is_file()


def test_folder_without_config_json(tmp_path: Path) -> None:
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        resolve_model(str(tmp_path))
    assert info.value.render() == MODEL_NO_CONFIG.format(path=tmp_path)


def test_missing_local_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_model(str(tmp_path / "nope"))
    assert info.value.render() == MODEL_PATH_MISSING.format(path=tmp_path / "nope")


def test_hub_id_is_passed_to_the_hub_and_fails_clearly_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model("someorg/some-model") == ("someorg/some-model", False)
    with pytest.raises(ConfigError, match="could not load 'someorg/some-model' from the Hugging Face hub"):
        build_classifier(ModelConfig(name="someorg/some-model"), ["a", "b"])


def test_local_folder_builds_a_classifier_with_label_names(tiny_model_dir: Path) -> None:
    model, tok = build_classifier(ModelConfig(name=str(tiny_model_dir)), ["neg", "neu", "pos"])
    assert model.config.id2label == {0: "neg", 1: "neu", 2: "pos"}
    assert model.classifier.out_features == 3
    assert tok("good film")["input_ids"][0] == tok.cls_token_id
