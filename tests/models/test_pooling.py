"""`model.pooling: mean`: a BERT head on the masked mean of the last hidden states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fairtune.config import ModelConfig
from fairtune.errors import ConfigError
from fairtune.models import (
    BertForMeanPooledSequenceClassification,
    build_classifier,
    load_trained,
    save_model,
)
from fairtune.models._pooling import mean_pool

LABELS = ["negative", "positive"]


def _mean_model(tiny_model_dir: Path) -> tuple[BertForMeanPooledSequenceClassification, object]:
    model, tok = build_classifier(ModelConfig(name=str(tiny_model_dir), pooling="mean"), LABELS)
    assert isinstance(model, BertForMeanPooledSequenceClassification)
    return model.eval(), tok


def test_head_reads_the_mean_of_the_unpadded_token_states(tiny_model_dir: Path) -> None:
    model, tok = _mean_model(tiny_model_dir)
    assert model.bert.pooler is None and not any("pooler" in n for n, _ in model.named_parameters())
    texts = ["good", "a truly wonderful and good film with great acting"]
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
        states = model.bert(**batch).last_hidden_state
        alone = model(**tok(texts[:1], return_tensors="pt")).logits
    n = int(batch["attention_mask"][0].sum())
    assert n < batch["input_ids"].shape[1]  # the short text is padded in the batch
    expected = model.classifier(states[0, :n].mean(dim=0))
    torch.testing.assert_close(logits[0], expected)
    # padding does not move the short text's logits; a mean over every position would
    torch.testing.assert_close(logits[0], alone[0], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(model.classifier(states[0].mean(dim=0)), expected, atol=1e-5)


def test_loss_is_computed_from_labels(tiny_model_dir: Path) -> None:
    model, tok = _mean_model(tiny_model_dir)
    batch = tok(["good", "bad"], padding=True, return_tensors="pt")
    out = model(**batch, labels=torch.tensor([1, 0]))
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, torch.tensor([1, 0])))


def test_folder_records_the_pooling_and_loads_back_mean_pooled(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, tok = _mean_model(tiny_model_dir)
    save_model(model, tok, tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["fairtune_pooling"] == "mean"
    assert config["architectures"] == ["BertForMeanPooledSequenceClassification"]
    again, _ = load_trained(tmp_path / "model")
    assert isinstance(again, BertForMeanPooledSequenceClassification)
    batch = tok(["good film", "bad"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(again(**batch).logits, model(**batch).logits)


@pytest.mark.parametrize("kind", ["bf16", "int8", "onnx"])
def test_compressed_variants_keep_the_mean_pooled_head(
    tiny_model_dir: Path, tmp_path: Path, kind: str
) -> None:
    from fairtune.compress._variants import build_bf16, build_int8, build_onnx, load_variant

    model, tok = _mean_model(tiny_model_dir)
    texts = ["good film", "bad acting and a dull story"]
    with torch.no_grad():  # a head that puts the two texts' mean-pooled states at logits +2 and -2
        batch = tok(texts, padding=True, return_tensors="pt")
        p0, p1 = mean_pool(model.bert(**batch).last_hidden_state, batch["attention_mask"])
        w = 4 * (p0 - p1) / (p0 - p1).square().sum()
        model.classifier.weight.copy_(torch.stack([torch.zeros_like(w), w]))
        model.classifier.bias.copy_(torch.tensor([0.0, -float(w @ (p0 + p1)) / 2]))
    save_model(model, tok, tmp_path / "model")
    if kind == "onnx":  # the graph is traced from the mean-pooled forward
        build_onnx(tmp_path / "model", tmp_path, max_length=16, calibration_texts=texts, names=["onnx"])
    else:
        (build_bf16 if kind == "bf16" else build_int8)(tmp_path / "model", tmp_path / kind)
    variant = load_variant(tmp_path / kind, batch_size=8, max_length=16)
    if kind != "onnx":
        assert isinstance(variant.model, BertForMeanPooledSequenceClassification)
    parent = load_trained(tmp_path / "model")[0]
    with torch.no_grad():
        want = torch.softmax(parent(**tok(texts, padding=True, return_tensors="pt")).logits, -1)
    torch.testing.assert_close(want[:, 1], torch.sigmoid(torch.tensor([2.0, -2.0])))
    got = variant.predict_proba(texts)
    assert abs(got - want.numpy()).max() < (1e-4 if kind == "onnx" else 0.05)


def test_mean_pooling_refused_for_other_model_types(tmp_path: Path) -> None:
    from transformers import DistilBertConfig, DistilBertModel

    from fairtune.testing import make_tiny_bert

    folder = make_tiny_bert(tmp_path / "tok")  # for its tokenizer files
    DistilBertModel(
        DistilBertConfig(vocab_size=100, dim=16, n_layers=1, n_heads=2, hidden_dim=32)
    ).save_pretrained(folder, safe_serialization=True)
    (folder / "config.json").write_text(
        json.dumps({**json.loads((folder / "config.json").read_text()), "model_type": "distilbert"})
    )
    with pytest.raises(ConfigError) as info:
        build_classifier(ModelConfig(name=str(folder), pooling="mean"), LABELS)
    message = info.value.render()
    assert message.startswith("model.pooling:") and "'distilbert'" in message and "pooling: cls" in message
