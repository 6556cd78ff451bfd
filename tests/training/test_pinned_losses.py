"""Pinned loss curves of the training loop on a tiny model (torchtune's recipe tests do the same).

Each way of training (plain, counterfactual augmentation and logit pairing, embedding-space FGM and
PGD, distillation, DP-SGD) runs a few seeded steps in fp32 on a tiny BERT, and its logged loss curve
and final eval loss must equal the numbers below. A change to the loop that is meant to change no
numbers (a refactor) keeps them; any other change shows up here and must update them on purpose.
Tolerances are tight but leave room for the last bits that differ between CPU instruction sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from fairtune.config import build_config
from fairtune.workflows.train import train

#: variant -> (train loss every 4 steps, final eval loss), measured on the code before the objectives
#: became components.
PINNED: dict[str, tuple[list[float], float]] = {
    "cda": (
        [0.691474, 0.699416, 0.699729, 0.704581, 0.687748, 0.705271, 0.685523, 0.649993, 0.546858, 0.466359],
        0.547344,
    ),
    "clp": ([0.697993, 0.696568, 0.700914, 0.696303, 0.657732, 0.507072, 0.316209, 0.268198], 0.457114),
    "dp": ([0.695321, 0.693734, 0.690594], 0.696350),
    "fgm": ([1.395116, 1.393178, 1.393490, 1.386562, 1.396014, 1.381769, 1.385222, 1.385386], 0.693501),
    "pgd": ([1.396276, 1.394383, 1.392171, 1.391088, 1.388502, 1.388508, 1.388558, 1.385360], 0.693121),
    "plain": ([0.696060, 0.695803, 0.692567, 0.612877, 0.392161, 0.107506, 0.131069, 0.215924], 0.055747),
    "distill": ([0.348879, 0.348628, 0.346596, 0.326921, 0.263096, 0.298129, 0.219091, 0.220067], 0.318036),
}

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "cda": {"counterfactual": {"method": "cda", "dimensions": ["gender"]}},
    "clp": {
        "counterfactual": {"method": "clp", "clp_lambda": 0.5, "dimensions": ["gender"], "template_pairs": 0}
    },
    "fgm": {"adversarial": {"method": "fgm", "epsilon": 0.1}},
    "pgd": {"adversarial": {"method": "pgd", "epsilon": 0.1, "steps": 2}},
    "dp": {"privacy": {"epsilon": 50, "accountant": "rdp", "physical_batch_size": 8}, "batch_size": 24},
}


@pytest.fixture
def biased_config(tmp_path: Path, tiny_model_dir: Path) -> dict[str, Any]:
    from fairtune.testing import tiny_biased_rows, write_csv

    train_csv = write_csv(tmp_path / "train.csv", tiny_biased_rows(64, seed=1))
    eval_csv = write_csv(tmp_path / "eval.csv", tiny_biased_rows(32, seed=2))
    return {
        "name": "pinned",
        "output_dir": str(tmp_path / "runs"),
        "seed": 3,
        "data": {"train": str(train_csv), "eval": str(eval_csv), "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {
            "epochs": 5,
            "batch_size": 8,
            "lr": 1e-2,
            "warmup_ratio": 0.1,
            "log_every": 5,
            "save_every": 1000,
            "precision": "fp32",
        },
    }


def _curve(raw: dict[str, Any]) -> tuple[list[float], float]:
    torch.manual_seed(0)
    metrics = train(build_config(raw), show_progress=False)
    return [h["loss"] for h in metrics["train"]["history"]], metrics["eval"]["loss"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_loss_curve_is_pinned(biased_config: dict[str, Any], variant: str) -> None:
    raw = {**biased_config, "train": {**biased_config["train"], **VARIANTS[variant]}}
    history, eval_loss = _curve(raw)
    want_history, want_eval = PINNED[variant]
    torch.testing.assert_close(history, want_history, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(eval_loss, want_eval, rtol=1e-4, atol=1e-5)


def test_distillation_loss_curve_is_pinned(biased_config: dict[str, Any], tmp_path: Path) -> None:
    from fairtune.data import load_task_data
    from fairtune.models import build_classifier
    from fairtune.training import Trainer

    cfg = build_config(biased_config)
    task = load_task_data(cfg.data, cfg.seed)
    torch.manual_seed(1)
    teacher, _ = build_classifier(cfg.model, task.label_names)
    torch.manual_seed(0)
    model, tok = build_classifier(cfg.model, task.label_names)
    result = Trainer(
        model,
        tok,
        task,
        cfg.train,
        run_dir=tmp_path / "distill",
        seed=cfg.seed,
        max_length=cfg.data.max_length,
        show_progress=False,
        teacher=teacher,
        distill_weight=0.5,
    ).fit()
    want_history, want_eval = PINNED["distill"]
    torch.testing.assert_close([h["loss"] for h in result.state.history], want_history, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(result.eval_metrics["loss"], want_eval, rtol=1e-4, atol=1e-5)
