"""Warm starts: `model.name` may be a fine-tuned classifier's folder. Its head is kept for the same labels
(reordered to the new order), and replaced for other labels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fairtune.config import ModelConfig
from fairtune.models import build_classifier, save_model

LABELS = ["negative", "positive"]


@pytest.fixture(params=["cls", "mean"])
def warm_start(request: pytest.FixtureRequest, tiny_model_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    """A 'fine-tuned' classifier folder for LABELS, its head set to known, distinct rows."""
    pooling = request.param
    model, tok = build_classifier(ModelConfig(name=str(tiny_model_dir), pooling=pooling), LABELS)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.arange(2 * 32, dtype=torch.float32).reshape(2, 32) / 100)
        model.classifier.bias.copy_(torch.tensor([0.5, -0.5]))
    save_model(model, tok, tmp_path / "public")
    return tmp_path / "public", pooling


def _head(folder: Path, pooling: str, labels: list[str]) -> torch.nn.Linear:
    model, _ = build_classifier(ModelConfig(name=str(folder), pooling=pooling), labels)
    return model.classifier


def test_the_same_labels_keep_the_trained_head(warm_start: tuple[Path, str]) -> None:
    folder, pooling = warm_start
    head = _head(folder, pooling, LABELS)
    torch.testing.assert_close(head.bias.detach(), torch.tensor([0.5, -0.5]))
    assert head.weight[1, 0].item() == pytest.approx(0.32)


def test_the_same_labels_in_another_order_reorder_the_head(warm_start: tuple[Path, str]) -> None:
    folder, pooling = warm_start
    head = _head(folder, pooling, ["positive", "negative"])
    # row 0 now scores "positive", which was row 1 of the warm start
    torch.testing.assert_close(head.bias.detach(), torch.tensor([-0.5, 0.5]))
    assert head.weight[0, 0].item() == pytest.approx(0.32) and head.weight[1, 0].item() == 0.0


def test_other_labels_get_a_fresh_output_layer(
    warm_start: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, pooling = warm_start
    head = _head(folder, pooling, ["ok", "toxic"])
    assert torch.count_nonzero(head.bias) == 0  # Transformers initialises biases to zero
    assert head.weight.abs().max().item() < 0.2  # N(0, 0.02), not the warm start's rows up to 0.63
    assert "trained for ['negative', 'positive'], not ['ok', 'toxic']" in capsys.readouterr().err


def test_a_plain_encoder_gets_a_fresh_head(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _head(tiny_model_dir, "cls", LABELS)
    b = _head(tiny_model_dir, "cls", ["positive", "negative"])
    assert a.weight.shape == b.weight.shape == (2, 32)
    assert capsys.readouterr().err == ""  # nothing to keep, so nothing to say
