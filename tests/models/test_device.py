"""`model.device: auto|cpu|cuda`: the choice logic on any machine, and the GPU itself where there is one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fairtune.errors import FairtuneError
from fairtune.models._device import resolve_device
from fairtune.training import resolve_precision


@pytest.mark.parametrize(
    ("requested", "gpu", "want"),
    [
        (None, False, "cpu"),
        ("auto", False, "cpu"),
        (None, True, "cuda"),
        ("auto", True, "cuda"),
        ("cpu", True, "cpu"),
    ],
)
def test_auto_takes_the_gpu_when_torch_sees_one(
    monkeypatch: pytest.MonkeyPatch, requested: str | None, gpu: bool, want: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert resolve_device(requested) == want


def test_cuda_without_a_gpu_is_an_error_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(FairtuneError, match=r"model.device: cuda was asked for, but torch .* sees no GPU"):
        resolve_device("cuda")
    with pytest.raises(FairtuneError, match="--device: unknown device 'tpu'"):
        resolve_device("tpu", "--device")


def test_precision_follows_the_chosen_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr("fairtune.training._precision.cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cuda") == "bf16"
    assert resolve_precision("auto", "cpu") == "fp32"  # a GPU in the machine does not make the CPU bf16
    assert resolve_precision("fp32", "cuda") == "fp32"


def _tiny(tiny_model_dir: Path) -> tuple[object, object]:
    from transformers import BertForSequenceClassification, BertTokenizer

    torch.manual_seed(0)
    return BertForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=2
    ), BertTokenizer.from_pretrained(tiny_model_dir)


def test_a_classifier_runs_where_it_was_asked_to(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fairtune.models import TorchClassifier

    model, tok = _tiny(tiny_model_dir)
    clf = TorchClassifier(model, tok, max_length=16, precision="fp32", device="cpu")
    assert clf.device == "cpu" and next(clf.model.parameters()).device.type == "cpu"
    assert clf.predict_proba(["a good film"]).shape == (1, 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(FairtuneError, match=r"model\.device"):
        TorchClassifier(model, tok, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_the_gpu_the_probabilities_match_the_cpu(tiny_model_dir: Path) -> None:
    from fairtune.models import TorchClassifier

    texts = ["a good film", "the plot was awful and dull", "men and women"]
    model, tok = _tiny(tiny_model_dir)
    cpu = TorchClassifier(model, tok, max_length=16, precision="fp32", device="cpu").predict_proba(texts)
    model, tok = _tiny(tiny_model_dir)
    gpu = TorchClassifier(model, tok, max_length=16, precision="fp32", device="cuda")
    assert next(gpu.model.parameters()).is_cuda
    np.testing.assert_allclose(gpu.predict_proba(texts), cpu, atol=1e-4)
