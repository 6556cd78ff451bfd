from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fairtune.config import build_config, load_config, parse_overrides
from fairtune.errors import BAD_OVERRIDE, CONFIG_FILE_MISSING, ConfigError

PROJECT = Path(__file__).resolve().parents[2]


USER_CONFIGS = sorted((PROJECT / "configs").glob("*.yaml"))
BENCH_CONFIGS = sorted((PROJECT / "bench" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", USER_CONFIGS + BENCH_CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_and_says_how_to_run_it(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name == path.stem
    header = path.read_text().split("\n\n")[0]
    assert header.startswith("#") and "fairtune" in header
    assert str(path.relative_to(PROJECT)) in header  # the command using it, run from the project root


@pytest.mark.parametrize("path", USER_CONFIGS, ids=lambda p: p.name)
def test_every_user_config_says_what_to_expect_and_where_it_was_measured(path: Path) -> None:
    header = [ln for ln in path.read_text().splitlines() if ln.startswith("#")]
    expect = " ".join(ln for ln in header[next(i for i, ln in enumerate(header) if "# Expect" in ln) :])
    assert re.search(r"\b(avx2|avx512|avx512-bf16|amx|gpu-\S+) host\b", expect), expect
    assert re.search(r"\d min\b", expect) and re.search(r"\d%", expect), expect


def test_configs_holds_starting_points_and_bench_configs_the_experiments() -> None:
    names = {p.name for p in USER_CONFIGS}
    assert len(names) <= 5 and names >= {"sst2-minilm.yaml", "sst2-minilm-lora.yaml"}
    assert not {p.name for p in USER_CONFIGS} & {p.name for p in BENCH_CONFIGS}


def test_shipped_configs_differ_only_by_lora() -> None:
    full = load_config(PROJECT / "configs/sst2-minilm.yaml")
    lora = load_config(PROJECT / "configs/sst2-minilm-lora.yaml")
    assert full.model.lora is None and lora.model.lora is not None
    assert full.data == lora.data


def _write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def test_precedence_defaults_yaml_overrides(tmp_path: Path) -> None:
    p = _write(tmp_path, {"train": {"lr": 1e-3, "batch_size": 4}})
    cfg = load_config(p, ["train.lr=2e-5", "data.label_names=[a, b]"])
    assert cfg.train.lr == 2e-5  # override beats YAML
    assert cfg.train.batch_size == 4  # YAML beats default
    assert cfg.train.epochs == 1.0  # default
    assert cfg.data.label_names == ["a", "b"]


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, {"train": {"learning_rate": 1e-3, "batchsize": 3}}))
    msg = info.value.render()
    assert "train.batchsize: unknown key. Did you mean 'train.batch_size'?" in msg
    assert "train.learning_rate: unknown key. Did you mean 'train.lr'?" in msg  # a Hugging Face name
    assert len(info.value.problems) == 2  # every problem at once


@pytest.mark.parametrize(
    ("section", "key", "ours"),
    [
        ("train", "num_train_epochs", "train.epochs"),
        ("train", "per_device_train_batch_size", "train.batch_size"),
        ("train", "per_device_eval_batch_size", "train.eval_batch_size"),
        ("train", "logging_steps", "train.log_every"),
        ("data", "max_seq_length", "data.max_length"),
    ],
)
def test_hugging_face_training_argument_names_point_to_ours(section: str, key: str, ours: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config({section: {key: 1}})
    assert f"{section}.{key}: unknown key. Did you mean '{ours}'?" in info.value.render()


def test_wrong_type_names_field_value_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            _write(tmp_path, {"train": {"batch_size": "big", "lr": -1}, "data": {"eval_fraction": 2}})
        )
    problems = info.value.problems
    assert len(problems) == 3
    bs = next(p for p in problems if p.startswith("train.batch_size:"))
    assert "'big'" in bs and "Examples per optimizer step" in bs
    assert any(p.startswith("train.lr:") and "greater than 0" in p for p in problems)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.render() == CONFIG_FILE_MISSING.format(path=tmp_path / "nope.yaml")


@pytest.mark.parametrize("bad", ["train.lr", "=3", "train..lr=3"])
def test_bad_override(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_overrides([bad])
    assert info.value.render() == BAD_OVERRIDE.format(text=bad)


def test_override_values_are_typed() -> None:
    assert parse_overrides(["a.b=3", "a.c=null", "d=x y"]) == {"a": {"b": 3, "c": None}, "d": "x y"}


@pytest.mark.parametrize(
    ("privacy", "lora", "words"),
    [
        (None, None, "all weights"),
        (None, {"r": 4}, "LoRA (r=4, alpha=16, modules query, key, value, dense)"),
        ({"freeze_embeddings": True}, None, "every weight but the embeddings"),
        ({"trainable_layers": 1}, None, "the top 1 encoder layer(s), the pooler and the head"),
        (
            {"bias_only": True, "freeze_embeddings": True},
            None,
            "the bias terms and LayerNorm weights of the encoder (not the embeddings), and the head (BitFit)",
        ),
        (
            {"bias_only": True, "trainable_layers": 2},
            None,
            "the bias terms and LayerNorm weights of the top 2 encoder layer(s), and the head (BitFit)",
        ),
    ],
)
def test_trained_weights_says_which_weights_train(
    privacy: dict | None, lora: dict | None, words: str
) -> None:
    from fairtune.config import build_config

    raw: dict = {
        "model": {"lora": lora},
        "train": {"privacy": {"epsilon": 8, **privacy} if privacy else None},
    }
    assert build_config(raw).trained_weights() == words


def test_an_unknown_gate_lists_the_closest_metrics_not_all_of_them() -> None:
    from fairtune.config import all_metric_names

    with pytest.raises(ConfigError) as info:
        build_config({"gates": {"fairness.identity_fpde": {"max": 1}}})
    msg = info.value.render()
    assert "Did you mean 'fairness.identity_fped'?" in msg
    listed = [m for m in all_metric_names() if m in msg]
    assert 1 < len(listed) <= 7 and len(all_metric_names()) > 50


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"train": {"privacy": {"epsilon": 8}}}, "train.privacy"),
        ({"encryption": {"key_env": "K"}}, "encryption"),
    ],
)
def test_word_recognition_is_refused_where_its_plain_text_dictionary_would_leak(
    extra: dict, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its dictionary (training words with counts) is saved unencrypted in the model folder."""
    from cryptography.fernet import Fernet

    monkeypatch.setenv("K", Fernet.generate_key().decode())
    with pytest.raises(ConfigError) as info:
        build_config({"data": {"train": "t.csv"}, "model": {"word_recognition": {}}, **extra})
    assert f"model.word_recognition cannot be combined with {name}" in info.value.render()
    with pytest.raises(ConfigError) as info:
        build_config({"data": {"train": "t.csv"}, "model": {"word_recognition": {"min_count": 1}}})
    assert "model.word_recognition.min_count" in info.value.render()
    cfg = build_config({"data": {"train": "t.csv"}, "model": {"word_recognition": {}}})
    assert cfg.model.word_recognition is not None and cfg.model.word_recognition.min_count == 2
