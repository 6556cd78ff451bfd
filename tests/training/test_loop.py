"""The fine-tuning loop on a tiny BERT: it learns, resumes exactly, stops early, trains LoRA."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from fairtune.config import build_config
from fairtune.errors import NO_CHECKPOINT, RUN_EXISTS, RunError
from fairtune.models import TorchClassifier
from fairtune.training import Trainer
from fairtune.workflows.train import train


def _run(raw: dict, **kw) -> dict:
    return train(build_config(raw), show_progress=False, **kw)


def test_tiny_model_learns_and_writes_the_run_layout(tiny_config: dict) -> None:
    metrics = _run(tiny_config)
    run = Path(tiny_config["output_dir"]) / "tiny"
    assert metrics["eval"]["accuracy"] >= 0.9
    assert metrics["train"]["history"][0]["loss"] > metrics["train"]["history"][-1]["loss"]
    tr = metrics["train"]  # the timed spans nest: optimizer steps < fit (with evaluation) < saved model
    assert 0 < tr["train_seconds"] < tr["wall_seconds_this_session"] < tr["wall_seconds_to_saved_model"]
    for rel in (
        "model/config.json",
        "model/model.safetensors",
        "model/tokenizer.json",
        "config.yaml",
        "metrics.json",
    ):
        assert (run / rel).is_file(), rel
    assert list((run / "events").glob("events.out.tfevents.*"))
    assert list((run / "checkpoints").glob("step-*"))
    assert not list((run / "model").glob("*.bin"))
    cfg = json.loads((run / "model/config.json").read_text())
    assert cfg["id2label"] == {"0": "negative", "1": "positive"}
    saved = (run / "config.yaml").read_text()
    assert "versions:" in saved and "torch:" in saved and "lr: 0.01" in saved
    on_disk = json.loads((run / "metrics.json").read_text())
    assert (
        on_disk["schema"] == "fairtune/metrics/v1"
        and on_disk["eval"]["accuracy"] == metrics["eval"]["accuracy"]
    )


def test_one_process_trains_in_bf16_then_fp32(tiny_config: dict, tmp_path: Path) -> None:
    # accelerate keeps one mixed precision per process and refused the second Accelerator; on a CPU with
    # native bf16, `precision: auto` is bf16, so a bf16 run and an fp32 one met in the same process
    for i, precision in enumerate(["bf16", "fp32", "bf16"]):
        raw = {**tiny_config, "output_dir": str(tmp_path / str(i))}
        raw["train"] = {**tiny_config["train"], "precision": precision, "epochs": 1}
        assert _run(raw)["train"]["precision"] == precision


def test_same_seed_same_result(tiny_config: dict, tmp_path: Path) -> None:
    a = _run(tiny_config)
    b = _run({**tiny_config, "output_dir": str(tmp_path / "other")})
    assert a["eval"]["loss"] == b["eval"]["loss"]
    assert [h["loss"] for h in a["train"]["history"]] == [h["loss"] for h in b["train"]["history"]]


def test_resume_after_interruption_matches_uninterrupted_run(
    tiny_config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = _run({**tiny_config, "output_dir": str(tmp_path / "full")})
    raw = {**tiny_config, "output_dir": str(tmp_path / "cut")}
    _interrupted(raw, monkeypatch, at_step=25)  # after the checkpoint at step 20, mid-epoch
    with pytest.raises(RunError, match="Pass --resume"):
        _run(raw)
    resumed = _run(raw, resume=True)
    assert resumed["eval"]["loss"] == full["eval"]["loss"]
    assert resumed["eval"]["accuracy"] == full["eval"]["accuracy"]
    assert resumed["train"]["steps"] == full["train"]["steps"]
    a = TorchClassifier.from_dir(tmp_path / "full/tiny/model").predict_proba(["good film", "bad plot"])
    b = TorchClassifier.from_dir(tmp_path / "cut/tiny/model").predict_proba(["good film", "bad plot"])
    np.testing.assert_array_equal(a, b)


def test_resume_without_checkpoint_is_refused(tiny_config: dict) -> None:
    with pytest.raises(RunError) as info:
        _run(tiny_config, resume=True)
    run = Path(tiny_config["output_dir"]) / "tiny"
    assert info.value.render() == NO_CHECKPOINT.format(path=run)


def test_existing_run_is_not_overwritten_silently(tiny_config: dict) -> None:
    _run({**tiny_config, "train": {**tiny_config["train"], "epochs": 1}})
    with pytest.raises(RunError) as info:
        _run(tiny_config)
    assert info.value.render() == RUN_EXISTS.format(
        path=Path(tiny_config["output_dir"]) / "tiny", what="a model"
    )
    assert _run(tiny_config, overwrite=True)["train"]["steps"] == 120


def test_early_stopping_keeps_the_best_model(tiny_config: dict) -> None:
    raw = {**tiny_config}
    raw["train"] = {
        **tiny_config["train"],
        "epochs": 30,
        "eval_every": 4,
        "early_stopping": {"metric": "loss", "patience": 2},
    }
    metrics = _run(raw)
    t = metrics["train"]
    assert t["stopped_early"] and t["steps"] < 30 * 12
    best = min(e["loss"] for e in t["evals"])
    assert metrics["eval"]["loss"] == pytest.approx(best, rel=1e-5)
    assert t["best_step"] == min(t["evals"], key=lambda e: e["loss"])["step"]


def test_lora_saves_adapter_plus_merged_model_that_agree(tiny_config: dict, tiny_model_dir: Path) -> None:
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    raw = {**tiny_config, "model": {**tiny_config["model"], "lora": {"r": 4, "alpha": 8}}}
    metrics = _run(raw)
    run = Path(tiny_config["output_dir"]) / "tiny"
    adapter = run / "model/adapter"
    assert (adapter / "adapter_config.json").is_file()
    lora_b = [v for k, v in load_file(adapter / "adapter_model.safetensors").items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # adapters moved away from their zero init
    merged = TorchClassifier.from_dir(run / "model", precision="fp32")  # not bf16 where it is native
    assert not any("lora" in n for n, _ in merged.model.named_parameters())
    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    reloaded = TorchClassifier(PeftModel.from_pretrained(base, adapter), merged.tokenizer, precision="fp32")
    texts = ["the movie was good", "a dull plot", "great acting and a very sad story"]
    np.testing.assert_allclose(merged.predict_proba(texts), reloaded.predict_proba(texts), atol=1e-5)
    # the base weights were frozen: the merged model differs from the base only by the LoRA update
    assert metrics["train"]["steps"] == 120


def test_lora_freezes_base_weights(tiny_config: dict) -> None:
    from fairtune.models import build_classifier

    cfg = build_config({**tiny_config, "model": {**tiny_config["model"], "lora": {"r": 2}}})
    model, _ = build_classifier(cfg.model, ["a", "b"])
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)


def test_precision_auto_follows_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    from fairtune.training import _precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(_precision, "cpu_has_native_bf16", lambda: True)
    assert _precision.resolve_precision("auto") == "bf16"
    monkeypatch.setattr(_precision, "cpu_has_native_bf16", lambda: False)
    assert _precision.resolve_precision("auto") == "fp32"
    assert _precision.resolve_precision("bf16") == "bf16"


def test_distillation_follows_the_teacher_not_the_labels(tiny_config: dict, tmp_path: Path) -> None:
    """Trained on inverted labels, a student follows the labels without a teacher and the teacher with
    distillation weight 1: the KL term is what it learns from."""
    from dataclasses import replace

    from fairtune.data import load_task_data
    from fairtune.models import build_classifier, load_trained

    _run(tiny_config)
    teacher, _ = load_trained(Path(tiny_config["output_dir"]) / "tiny" / "model")
    cfg = build_config(tiny_config)
    task = load_task_data(cfg.data, cfg.seed)
    inverted = replace(task, train=replace(task.train, labels=1 - task.train.labels))
    accuracy = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model, tok = build_classifier(cfg.model, task.label_names)
        Trainer(
            model,
            tok,
            inverted,
            cfg.train,
            run_dir=tmp_path / f"w{weight}",
            seed=cfg.seed,
            max_length=cfg.data.max_length,
            show_progress=False,
            teacher=teacher if weight else None,
            distill_weight=weight,
        ).fit()
        probs = TorchClassifier(model, tok).predict_proba(task.eval.texts)
        accuracy[weight] = float((probs.argmax(1) == task.eval.labels).mean())
    assert accuracy[0.0] <= 0.2 and accuracy[1.0] >= 0.8, accuracy


@pytest.mark.parametrize("lora", [False, True])
def test_head_lr_applies_to_the_head_only_and_follows_the_schedule(tiny_model_dir: Path, lora: bool) -> None:
    from transformers import get_linear_schedule_with_warmup

    from fairtune.config import ModelConfig, TrainConfig
    from fairtune.models import build_classifier
    from fairtune.training import make_optimizer

    lora_cfg = {"r": 2, "alpha": 4, "dropout": 0.0, "target_modules": ["query", "value"]} if lora else None
    model, _ = build_classifier(ModelConfig(name=str(tiny_model_dir), lora=lora_cfg), ["neg", "pos"])
    opt = make_optimizer(model, TrainConfig(lr=1e-4, head_lr=1e-2, weight_decay=0.1))
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert len(lr_of) == len(trainable)  # every trainable weight is in exactly one group
    head = {n for n in trainable if ".classifier." in f".{n}"}
    assert head and len(head) < len(trainable)
    for n, p in trainable.items():
        assert lr_of[id(p)] == (1e-2 if n in head else 1e-4), n
        assert decay_of[id(p)] == (0.0 if p.ndim < 2 or "LayerNorm" in n else 0.1), n
    sched = get_linear_schedule_with_warmup(opt, 2, 10)
    for _ in range(2):
        opt.step()
        sched.step()
    assert sorted({g["lr"] for g in opt.param_groups}) == pytest.approx([1e-4, 1e-2])  # warmup done
    # unset, the head trains at train.lr like every other weight, in the two groups (decay first) that
    # checkpoints written before train.head_lr existed hold
    same = make_optimizer(model, TrainConfig(lr=1e-4, weight_decay=0.1))
    assert [(g["lr"], g["weight_decay"]) for g in same.param_groups] == [(1e-4, 0.1), (1e-4, 0.0)]


def _interrupted(raw: dict, monkeypatch: pytest.MonkeyPatch, at_step: int) -> None:
    """Train `raw` and kill the run (KeyboardInterrupt) as it starts step `at_step`."""
    real_step = Trainer._train_step
    calls = {"n": 0}

    def dying_step(self: Trainer, idx: list[int]) -> float:
        calls["n"] += 1
        if calls["n"] == at_step:
            raise KeyboardInterrupt
        return real_step(self, idx)

    monkeypatch.setattr(Trainer, "_train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        _run(raw)
    monkeypatch.setattr(Trainer, "_train_step", real_step)


def _scalars(events: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events))
    acc.Reload()
    return [(e.step, round(e.value, 6)) for e in acc.Scalars(tag)]


def test_resumed_run_logs_the_same_tensorboard_series_as_an_uninterrupted_one(
    tiny_config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run({**tiny_config, "output_dir": str(tmp_path / "full")})
    raw = {**tiny_config, "output_dir": str(tmp_path / "cut")}
    _interrupted(raw, monkeypatch, at_step=25)  # after the checkpoint at step 20 and a log point at 24
    _run(raw, resume=True)
    for tag in ("train/loss", "eval/accuracy"):
        assert _scalars(tmp_path / "full/tiny/events", tag) == _scalars(tmp_path / "cut/tiny/events", tag), (
            tag
        )
    # the point logged at the checkpoint's step survives the resume
    assert 20 in [step for step, _ in _scalars(tmp_path / "cut/tiny/events", "train/loss")]


def test_leftovers_of_an_interrupted_write_are_cleaned_on_the_next_run(tiny_config: dict) -> None:
    run = Path(tiny_config["output_dir"]) / "tiny"
    _run({**tiny_config, "train": {**tiny_config["train"], "epochs": 1}})
    half = run / "checkpoints" / ".step-0000010.x1y2.tmp"  # a checkpoint killed mid-write
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"\0" * 1000)
    (run / "model").rename(run / ".model.old")  # killed between atomic_write_dir's two renames
    _run({**tiny_config, "train": {**tiny_config["train"], "epochs": 1}}, overwrite=True)
    assert not half.exists() and not (run / ".model.old").exists()
    assert (run / "model" / "config.json").is_file()


def test_the_progress_bar_shows_the_loss_before_the_first_log_step(
    tiny_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tqdm.auto import tqdm

    shown: list[tuple[int, str]] = []
    real = tqdm.set_postfix

    def spy(self: tqdm, *args: object, **kw: object) -> None:
        shown.append((self.n, str(kw.get("loss", ""))))
        real(self, *args, **kw)

    monkeypatch.setattr(tqdm, "set_postfix", spy)
    raw = {**tiny_config, "train": {**tiny_config["train"], "epochs": 1, "log_every": 8}}
    train(build_config(raw), show_progress=True)
    assert any(n == 1 and re.fullmatch(r"\d\.\d{4}", loss) for n, loss in shown)  # from the first step
