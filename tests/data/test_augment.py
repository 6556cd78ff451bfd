"""train.augment: EDA over WordNet (protected words untouched, deterministic), back-translation through a tiny
random Marian pair built in code, the training integration and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from fairtune.cli import main
from fairtune.data._augment import NEGATIONS, Eda, EdaSettings, backtranslate_copies, eda_copies

HAS_WORDNET = Path("/usr/share/wordnet/data.noun").is_file()
needs_wordnet = pytest.mark.skipif(not HAS_WORDNET, reason="Debian wordnet-base not installed")


@pytest.fixture(scope="module")
def wn():
    from fairtune.data import load_wordnet

    return load_wordnet()


@needs_wordnet
def test_each_operation(wn) -> None:
    eda = Eda(wn, EdaSettings(alpha_sr=0.3, alpha_ri=0.3, alpha_rs=0.3, p_rd=0.3))
    words = ["the", "acting", "was", "wonderful", "and", "the", "story", "moved", "me"]
    rng = np.random.default_rng(0)
    replaced = eda.replace(words, rng)
    changed = [(a, b) for a, b in zip(words, replaced, strict=True) if a != b]
    assert changed and all(b in eda.synonyms(a) for a, b in changed)
    inserted = eda.insert(words, rng)
    assert len(inserted) > len(words)
    swapped = eda.swap(words, rng)
    assert sorted(swapped) == sorted(words) and swapped != words
    deleted = eda.delete(words, np.random.default_rng(3))
    assert 0 < len(deleted) < len(words)
    assert eda.synonyms("the") == [] and eda.synonyms("not") == []  # stop words and protected words


@needs_wordnet
def test_protected_words_are_never_changed_or_moved(wn) -> None:
    eda = Eda(wn, EdaSettings(n_aug=16, alpha_sr=0.5, alpha_ri=0.5, alpha_rs=0.5, p_rd=0.5))
    text = "the plot is not clever and i never laughed"
    for seed in range(20):
        for copy in eda.augment(text, np.random.default_rng(seed)):
            words = copy.split()
            assert words.count("not") == 1 and words.count("never") == 1, copy
            kept = [w for w in words if w in ("not", "never")]
            assert kept == ["not", "never"], copy  # their order is kept
    assert "not" in NEGATIONS and "n't" in NEGATIONS


@needs_wordnet
def test_copies_are_deterministic_and_distinct(wn) -> None:
    eda = Eda(wn, EdaSettings(n_aug=4))
    texts = ["a gripping and beautiful film", "dull, slow and far too long", "ok"]
    a, b = eda_copies(texts, eda, seed=5), eda_copies(texts, eda, seed=5)
    assert a == b
    idx, copies = a
    for i in range(2):
        mine = [c for j, c in zip(idx, copies, strict=True) if j == i]
        assert len(mine) == 4 and len(set(mine)) == 4 and texts[i] not in mine
    assert eda_copies(texts, eda, seed=6) != a


def make_tiny_marian(path: Path, tiny_model_dir: Path, seed: int) -> Path:
    """A randomly initialised Marian model with the tiny word-level tokenizer: real code paths, no
    real translation."""
    import torch
    from transformers import AutoTokenizer, MarianConfig, MarianMTModel

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(seed)
    cfg = MarianConfig(
        vocab_size=len(tok),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.pad_token_id,
        forced_eos_token_id=tok.sep_token_id,
    )
    MarianMTModel(cfg).save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def test_backtranslation_through_tiny_marian_models(tmp_path: Path, tiny_model_dir: Path) -> None:
    from fairtune.data._augment import BackTranslator

    fwd = make_tiny_marian(tmp_path / "fwd", tiny_model_dir, 1)
    bwd = make_tiny_marian(tmp_path / "bwd", tiny_model_dir, 2)
    bt = BackTranslator(str(fwd), str(bwd), max_length=8)
    texts = ["the movie was good", "a bad plot", "fun"]
    out = bt(texts)
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
    idx, copies = backtranslate_copies(texts, lambda ts: [t.upper() if i else t for i, t in enumerate(ts)])
    assert idx == [1, 2] and copies == ["A BAD PLOT", "FUN"]  # unchanged and empty results are dropped


def base_cfg(tmp_path: Path, tiny_model_dir: Path, tiny_data: tuple[Path, Path], augment: dict) -> Path:
    train, ev = tiny_data
    cfg = {
        "name": "aug",
        "output_dir": str(tmp_path / "runs"),
        "data": {"train": str(train), "eval": str(ev), "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {"epochs": 1, "batch_size": 16, "lr": 1e-2, "precision": "fp32", "augment": augment},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.integration
@needs_wordnet
def test_training_with_eda(tmp_path: Path, tiny_model_dir: Path, tiny_data: tuple[Path, Path]) -> None:
    cfg = base_cfg(tmp_path, tiny_model_dir, tiny_data, {"method": "eda", "n_aug": 2})
    assert main(["train", str(cfg), "--no-progress"]) == 0
    t = json.loads((tmp_path / "runs" / "aug" / "metrics.json").read_text())["train"]
    assert t["augment"]["method"] == "eda" and t["augment"]["train_texts"] == 96
    assert t["n_train"] == 96 + t["augment"]["copies_added"] and t["augment"]["copies_added"] > 96


@pytest.mark.integration
def test_training_with_backtranslation(
    tmp_path: Path, tiny_model_dir: Path, tiny_data: tuple[Path, Path]
) -> None:
    fwd = make_tiny_marian(tmp_path / "fwd", tiny_model_dir, 1)
    bwd = make_tiny_marian(tmp_path / "bwd", tiny_model_dir, 2)
    aug = {"method": "backtranslate", "forward_model": str(fwd), "backward_model": str(bwd)}
    assert main(["train", str(base_cfg(tmp_path, tiny_model_dir, tiny_data, aug)), "--no-progress"]) == 0
    t = json.loads((tmp_path / "runs" / "aug" / "metrics.json").read_text())["train"]
    assert t["augment"]["method"] == "backtranslate" and t["n_train"] == 96 + t["augment"]["copies_added"]


@pytest.mark.parametrize(
    ("augment", "message"),
    [
        (
            {"method": "eda", "alpha_sr": 1.5},
            "train.augment.alpha_sr: input should be less than or equal to 1",
        ),
        ({"method": "eda", "p_rd": -0.1}, "train.augment.p_rd"),
        ({"method": "backtranslate"}, "needs forward_model and backward_model"),
        (
            {"method": "backtranslate", "forward_model": "./no/such/model", "backward_model": "./nor/this"},
            "train.augment.forward_model: folder not found",
        ),
    ],
)
def test_bad_augment_config(
    tmp_path: Path,
    tiny_model_dir: Path,
    tiny_data: tuple[Path, Path],
    augment: dict,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(base_cfg(tmp_path, tiny_model_dir, tiny_data, augment))]) == 2
    assert message in capsys.readouterr().err


def test_dp_refuses_augmentation(
    tmp_path: Path, tiny_model_dir: Path, tiny_data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = base_cfg(tmp_path, tiny_model_dir, tiny_data, {"method": "eda"})
    assert main(["validate", str(cfg), "train.privacy.epsilon=8"]) == 2
    assert "train.privacy cannot be combined with train.augment" in capsys.readouterr().err
