"""`fairtune pretrain`: masked-LM continued pretraining of a tiny BERT without an MLM head, resume, and the
result used as `model.name` for fine-tuning; bad unlabelled input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from fairtune.cli import main

pytestmark = pytest.mark.integration


def write_cfg(root: Path, tiny_model_dir: Path, data: Path, **pretrain: object) -> Path:
    cfg = {
        "name": "dapt",
        "output_dir": str(root / "runs"),
        "seed": 3,
        "model": {"name": str(tiny_model_dir)},
        "train": {"precision": "fp32"},
        "pretrain": {
            "data": str(data),
            "max_length": 16,
            "batch_size": 8,
            "lr": 5e-3,
            "max_steps": 12,
            "save_every": 6,
            "log_every": 3,
            **pretrain,
        },
    }
    path = root / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fairtune.testing import tiny_sentiment_rows

    root = tmp_path_factory.mktemp("corpus")
    lines = [t for t, _ in tiny_sentiment_rows(120, seed=4)]
    (root / "unlabelled.txt").write_text("\n".join(lines) + "\n\n   \n")
    return root / "unlabelled.txt"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, corpus: Path) -> Path:
    root = tmp_path_factory.mktemp("dapt")
    assert main(["pretrain", str(write_cfg(root, tiny_model_dir, corpus)), "--no-progress"]) == 0
    return root / "runs" / "dapt"


def test_pretraining_lowers_held_out_perplexity(pretrained: Path) -> None:
    m = json.loads((pretrained / "metrics.json").read_text())["pretrain"]
    assert m["new_mlm_head"] is True  # the tiny BERT, like the packaged MiniLM, has none
    assert m["steps"] == 12 and m["eval_texts"] == 12 and m["train_texts"] == 108
    assert m["perplexity"] < 0.9 * m["perplexity_before"]
    assert m["history"] and all("loss" in h for h in m["history"])


def test_new_head_is_tied_and_the_pooler_is_kept(pretrained: Path, tiny_model_dir: Path) -> None:
    from safetensors.torch import load_file
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(pretrained / "model")
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    saved = load_file(str(pretrained / "model" / "model.safetensors"))
    base = load_file(str(tiny_model_dir / "model.safetensors"))
    assert (saved["bert.pooler.dense.weight"] == base["pooler.dense.weight"]).all()
    assert any(k.startswith("cls.predictions.") for k in saved)


def test_the_pretrained_model_fine_tunes(
    pretrained: Path, tmp_path: Path, tiny_data: tuple[Path, Path]
) -> None:
    train, ev = tiny_data
    cfg = {
        "name": "ft",
        "output_dir": str(tmp_path / "runs"),
        "data": {"train": str(train), "eval": str(ev), "max_length": 16},
        "model": {"name": str(pretrained / "model")},
        "train": {"epochs": 2, "batch_size": 8, "lr": 1e-2, "precision": "fp32"},
    }
    (tmp_path / "ft.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "ft.yaml"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "runs" / "ft" / "metrics.json").read_text())["eval"]["accuracy"] > 0


def test_resume_continues_from_the_checkpoint(
    pretrained: Path, tmp_path: Path, tiny_model_dir: Path, corpus: Path
) -> None:
    cfg = write_cfg(tmp_path, tiny_model_dir, corpus)
    assert main(["pretrain", str(cfg), "--no-progress"]) == 0
    run = tmp_path / "runs" / "dapt"
    whole = json.loads((run / "metrics.json").read_text())["pretrain"]
    assert whole["perplexity"] == pytest.approx(  # the same config gives the same result
        json.loads((pretrained / "metrics.json").read_text())["pretrain"]["perplexity"], rel=1e-6
    )
    # As if killed between the step-6 and step-12 checkpoints.
    shutil.rmtree(run / "model")
    shutil.rmtree(run / "checkpoints" / "checkpoint-12")
    (run / "metrics.json").unlink()
    assert main(["pretrain", str(cfg), "--no-progress"]) == 2  # checkpoints exist: resume or overwrite
    assert main(["pretrain", str(cfg), "--resume", "--no-progress"]) == 0
    resumed = json.loads((run / "metrics.json").read_text())["pretrain"]
    assert resumed["steps"] == 12
    # The Trainer restores weights, optimizer, scheduler, RNG and data position; the masks it draws after
    # the resume differ from an uninterrupted run's, so the result is close rather than identical.
    assert [h["step"] for h in resumed["history"]] == [3, 6, 9, 12]  # the log continues the first part
    assert resumed["perplexity"] == pytest.approx(whole["perplexity"], rel=0.15)
    assert resumed["perplexity"] < 0.9 * resumed["perplexity_before"]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("\n  \n\t\n", "empty.txt", "no usable text"),
        ('{"body": "a text"}\n', "rows.jsonl", "no column 'text'"),
        ('{"text": null}\n{"text": 3}\n', "nulls.jsonl", "no usable text"),
    ],
)
def test_unusable_unlabelled_files(
    tmp_path: Path,
    tiny_model_dir: Path,
    content: str,
    name: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / name).write_text(content)
    assert main(["pretrain", str(write_cfg(tmp_path, tiny_model_dir, tmp_path / name))]) == 2
    err = capsys.readouterr().err
    assert message in err and name in err


def test_counterfactual_copies_for_pretraining(tiny_model_dir: Path) -> None:
    from fairtune.config import build_config
    from fairtune.workflows.pretrain import counterfactual_copies

    cfg = build_config(
        {
            "model": {"name": str(tiny_model_dir)},
            "pretrain": {"data": "x.txt", "counterfactual": {"method": "cda", "dimensions": ["gender"]}},
        }
    )
    texts, info = counterfactual_copies(cfg, ["the men were good", "a plain film"])
    assert texts[:2] == ["the men were good", "a plain film"]
    assert texts[2:] == ["the women were good"]
    assert info["copies_added"] == 1 and info["texts_with_terms"] == 1
