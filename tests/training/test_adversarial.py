"""Adversarial training on input embeddings (FGM, PGD), and extra training rows from a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fairtune.config import build_config
from fairtune.data import load_task_data
from fairtune.errors import DataError
from fairtune.workflows.train import train


@pytest.mark.parametrize("method", ["fgm", "pgd"])
def test_adversarial_training_still_learns(tiny_config: dict, method: str) -> None:
    raw = {
        **tiny_config,
        "train": {**tiny_config["train"], "adversarial": {"method": method, "epsilon": 0.05}},
    }
    metrics = train(build_config(raw), show_progress=False)
    assert metrics["eval"]["accuracy"] >= 0.9


def test_the_adversarial_step_raises_the_loss_within_the_radius(tiny_config: dict) -> None:
    from accelerate import Accelerator

    from fairtune.config import AdversarialConfig
    from fairtune.models import build_classifier
    from fairtune.training._batching import collate, tokenize
    from fairtune.training.objectives import Step
    from fairtune.training.objectives._adversarial import EmbeddingAdversarial

    cfg = build_config(tiny_config)
    data = load_task_data(cfg.data, cfg.seed)
    model, tok = build_classifier(cfg.model, data.label_names)
    model.eval()  # no dropout: the clean and perturbed losses differ by the perturbation alone
    batch = collate(tokenize(tok, data.train.texts, 16), list(range(8)), data.train.labels, tok.pad_token_id)
    embeds = model.get_input_embeddings()(batch["input_ids"])
    delta = torch.zeros_like(embeds, requires_grad=True)
    rest = {k: v for k, v in batch.items() if k != "input_ids"}
    clean = model(inputs_embeds=embeds + delta, **rest).loss
    (grad,) = torch.autograd.grad(clean, delta)
    step = Step(model, batch, list(range(8)), None, delta, Accelerator(cpu=True))
    pgd = EmbeddingAdversarial(AdversarialConfig(method="pgd", epsilon=0.5))
    assert float(pgd.perturbed_loss(step, grad)) > float(clean.detach())  # the perturbation points uphill
    # ... and FGM with a radius of ~0 gives back the clean loss
    fgm = EmbeddingAdversarial(AdversarialConfig(method="fgm", epsilon=1e-6))
    assert float(fgm.perturbed_loss(step, grad)) == pytest.approx(float(clean.detach()), abs=1e-4)


def test_extra_train_rows_are_appended_after_the_split(tmp_path: Path, tiny_config: dict) -> None:
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"text": "good film", "label": "positive"}) + "\n")
    raw = {**tiny_config, "data": {**tiny_config["data"], "extra_train": str(extra)}}
    base = load_task_data(build_config(tiny_config).data)
    task = load_task_data(build_config(raw).data)
    assert len(task.train) == len(base.train) + 1 and task.train.texts[-1] == "good film"
    assert task.train.labels[-1] == task.label_names.index("positive")
    assert task.eval.texts == base.eval.texts
    extra.write_text(json.dumps({"text": "x", "label": "meh"}) + "\n")
    with pytest.raises(DataError, match=r"extra.jsonl: label 'meh' \(first at line 1\) is not in"):
        load_task_data(build_config(raw).data)
