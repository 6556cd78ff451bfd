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


@pytest.fixture
def trained_copy(tiny_config: dict) -> Path:
    from fairtune.config import build_config
    from fairtune.workflows.train import train

    train(build_config({**tiny_config, "train": {**tiny_config["train"], "epochs": 1}}), show_progress=False)
    return Path(tiny_config["output_dir"]) / "tiny"


def _predict(run: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from fairtune.cli import main

    code = main(["predict", str(run), "a good film"])
    return code, capsys.readouterr().err


def test_truncated_or_damaged_weights_exit_2_naming_the_file(
    trained_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = trained_copy / "model" / "model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])  # truncated
    code, err = _predict(trained_copy, capsys)
    assert code == 2 and "model.safetensors: cannot be read as safetensors" in err and "Traceback" not in err
    weights.write_bytes(b"\xff" * 8 + whole[8:])  # a damaged header
    code, err = _predict(trained_copy, capsys)
    assert code == 2 and "truncated or damaged" in err


def test_non_finite_weights_exit_2_naming_the_weight(
    trained_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file, save_file

    weights = trained_copy / "model" / "model.safetensors"
    state = load_file(str(weights))
    name = next(k for k in state if "classifier.weight" in k)
    state[name][0, 0] = float("nan")
    save_file(state, str(weights), metadata={"format": "pt"})
    code, err = _predict(trained_copy, capsys)
    assert code == 2 and "classifier.weight holds 1 value(s) that are NaN or infinite" in err
