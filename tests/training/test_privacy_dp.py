"""DP-SGD: per-example clipping is exact, the plan spends the ε asked for, sampling is Poisson and
reproducible, and DP runs train, resume exactly and record their guarantee."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from fairtune.config import DpConfig, build_config
from fairtune.errors import ConfigError
from fairtune.models import TorchClassifier
from fairtune.training import Trainer
from fairtune.training._privacy import (
    PIECE_LENGTH_SPREAD,
    DpEngine,
    DpPlan,
    epsilon_spent,
    length_pieces,
    plan_privacy,
    poisson_batch,
)
from fairtune.workflows.train import train

TEXTS = ["good movie", "the plot was awful and dull", "fine", "very bad acting is the story", "great fun"]
LABELS = torch.tensor([1, 0, 1, 0, 1])


def _model(model_dir: Path) -> tuple[torch.nn.Module, object]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=2, hidden_dropout_prob=0.0
    )
    model.config.attention_probs_dropout_prob = 0.0
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return model, AutoTokenizer.from_pretrained(model_dir)


def _plan(clipping: str, *, noise: float, clip: float, batch: int) -> DpPlan:
    """A hand-made plan: the noise is given, not planned from ε."""
    return DpPlan(
        n=100,
        sample_rate=batch / 100,
        steps=1,
        epsilon=8,
        delta=1e-4,
        noise_multiplier=noise,
        max_grad_norm=clip,
        accountant="rdp",
        clipping=clipping,
        expected_batch_size=batch,
    )


def _inputs(tok: object, rows: list[int]) -> dict[str, torch.Tensor]:
    enc = tok([TEXTS[i] for i in rows], padding=True, return_tensors="pt")  # type: ignore[operator]
    ids = enc["input_ids"]
    return {
        "input_ids": ids,
        "attention_mask": enc["attention_mask"],
        "position_ids": torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids).contiguous(),
        "token_type_ids": torch.zeros_like(ids),
    }


@pytest.mark.parametrize("clipping", ["ghost", "hooks"])
def test_dp_gradient_is_the_mean_of_clipped_per_example_gradients(
    tiny_model_dir: Path, clipping: str
) -> None:
    """Without noise, the DP gradient must equal sum_i clip(g_i, C) / expected batch size, computed
    here one example at a time; the batch is fed in two pieces, as the trainer does."""
    clip = 0.05
    model, tok = _model(tiny_model_dir)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    expected = [torch.zeros_like(p) for p in params]
    for i in range(len(TEXTS)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(**_inputs(tok, [i])).logits, LABELS[i : i + 1]).backward()
        grads = [p.grad.detach().clone() for p in params]  # type: ignore[union-attr]
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        scale = min(1.0, clip / (float(norm) + 1e-6))
        assert scale < 1.0  # the test must exercise clipping
        for e, g in zip(expected, grads, strict=True):
            e += g * scale
    model.zero_grad()
    plan = _plan(clipping, noise=0.0, clip=clip, batch=8)
    engine = DpEngine(model, torch.optim.SGD(model.parameters(), lr=0.0), plan)
    for k, rows in enumerate([[0, 1, 2], [3, 4]]):
        logits = model(**_inputs(tok, rows)).logits
        engine.backward_piece(logits, LABELS[rows], last=k == 1)
    engine.optimizer.pre_step()  # clip, accumulate, add (zero) noise, scale: no parameter update
    for p, e in zip(params, expected, strict=True):
        torch.testing.assert_close(p.grad, e / 8, atol=1e-6, rtol=1e-4)
    engine.cleanup()


@pytest.mark.parametrize("clipping", ["ghost", "hooks"])
def test_an_empty_poisson_batch_still_takes_a_noisy_step(tiny_model_dir: Path, clipping: str) -> None:
    model, _ = _model(tiny_model_dir)
    before = [p.detach().clone() for p in model.parameters()]
    plan = _plan(clipping, noise=1.0, clip=1.0, batch=1)
    engine = DpEngine(model, torch.optim.SGD(model.parameters(), lr=0.1), plan)
    engine.empty_step()
    engine.step()
    moved = [not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True)]
    assert all(moved)  # noise reached every parameter
    engine.cleanup()


def test_plan_spends_the_asked_epsilon_and_no_more() -> None:
    plan = plan_privacy(DpConfig(epsilon=3.0, accountant="rdp"), n=5000, batch_size=100, steps=200)
    assert plan.delta == pytest.approx(1 / 50_000)
    spent = epsilon_spent("rdp", plan.noise_multiplier, plan.sample_rate, plan.steps, plan.delta)
    assert 0.97 * 3.0 <= spent <= 3.0
    # more steps at the same noise spend more
    assert epsilon_spent("rdp", plan.noise_multiplier, plan.sample_rate, 400, plan.delta) > spent
    # less budget needs more noise
    assert (
        plan_privacy(
            DpConfig(epsilon=1.0, accountant="rdp"), n=5000, batch_size=100, steps=200
        ).noise_multiplier
        > plan.noise_multiplier
    )


def test_unreachable_epsilon_is_refused_with_the_smallest_that_works() -> None:
    with pytest.raises(ConfigError) as err:
        plan_privacy(DpConfig(epsilon=0.01, accountant="rdp"), n=5000, batch_size=100, steps=200)
    msg = str(err.value)
    assert "train.privacy.epsilon: 0.01 cannot be reached" in msg
    found = re.search(r"The smallest ε that works here is ([0-9.]+(?:e-?[0-9]+)?)\. Set", msg)
    assert found, msg
    smallest = float(found.group(1))
    plan = plan_privacy(DpConfig(epsilon=smallest, accountant="rdp"), n=5000, batch_size=100, steps=200)
    assert plan.noise_multiplier > 10  # it works, with a great deal of noise


def test_delta_must_be_below_one_over_n() -> None:
    with pytest.raises(ConfigError, match=r"train.privacy.delta: 0.01 is not below 1/N = 0.002"):
        plan_privacy(DpConfig(delta=0.01, accountant="rdp"), n=500, batch_size=50, steps=10)
    with pytest.raises(ConfigError, match=r"train\.batch_size: 600"):
        plan_privacy(DpConfig(accountant="rdp"), n=500, batch_size=600, steps=10)


def test_poisson_batches_are_reproducible_and_of_the_expected_size() -> None:
    a = poisson_batch(10_000, 0.05, seed=3, step=7)
    assert a == poisson_batch(10_000, 0.05, seed=3, step=7)
    assert a != poisson_batch(10_000, 0.05, seed=3, step=8)
    sizes = [len(poisson_batch(10_000, 0.05, seed=3, step=s)) for s in range(50)]
    assert len(set(sizes)) > 5 and abs(np.mean(sizes) - 500) < 15  # variable size, mean q * n


def test_length_pieces_cover_the_batch_once_with_similar_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 66, size=1000).tolist()
    idx = rng.choice(1000, size=300, replace=False).tolist()
    pieces = length_pieces(idx, lengths, 32)
    assert sorted(i for p in pieces for i in p) == sorted(idx)
    for p in pieces:
        assert len(p) <= 32
        assert max(lengths[i] for i in p) <= PIECE_LENGTH_SPREAD * min(lengths[i] for i in p)


def _dp_config(tiny_config: dict, **privacy: object) -> dict:
    train = {
        **tiny_config["train"],
        "epochs": 2,
        "batch_size": 24,
        "save_every": 4,
        "privacy": {"epsilon": 50, "accountant": "rdp", "physical_batch_size": 8, **privacy},
    }
    return {**tiny_config, "train": train}


def test_dp_run_records_its_guarantee(tiny_config: dict) -> None:
    metrics = train(build_config(_dp_config(tiny_config)), show_progress=False)
    dp = metrics["train"]["privacy"]
    assert dp["sampling"] == "poisson" and dp["accountant"] == "rdp" and dp["clipping"] == "ghost"
    assert dp["steps_taken"] == dp["steps"] == 8  # 96 texts / 24 per step, 2 epochs
    assert dp["delta"] == pytest.approx(1 / 960)
    assert 0.97 * 50 <= dp["epsilon_spent"] <= 50 == dp["epsilon"]
    assert metrics["train"]["dp_epsilon"] == dp["epsilon_spent"]
    # the sampled batches vary in size around 24
    on_disk = json.loads((Path(tiny_config["output_dir"]) / "tiny/metrics.json").read_text())
    assert on_disk["train"]["privacy"] == dp


def test_dp_run_resumes_exactly(tiny_config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _dp_config(tiny_config)
    full = train(build_config({**raw, "output_dir": str(tmp_path / "full")}), show_progress=False)
    cut = {**raw, "output_dir": str(tmp_path / "cut")}
    real_step = Trainer._train_step
    calls = {"n": 0}

    def dying_step(self: Trainer, idx: list[int]) -> float:
        calls["n"] += 1
        if calls["n"] == 6:  # after the checkpoint at step 4
            raise KeyboardInterrupt
        return real_step(self, idx)

    monkeypatch.setattr(Trainer, "_train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(build_config(cut), show_progress=False)
    monkeypatch.setattr(Trainer, "_train_step", real_step)
    resumed = train(build_config(cut), show_progress=False, resume=True)
    assert resumed["train"]["privacy"]["epsilon_spent"] == full["train"]["privacy"]["epsilon_spent"]
    a = TorchClassifier.from_dir(tmp_path / "full/tiny/model").predict_proba(["good film", "bad plot"])
    b = TorchClassifier.from_dir(tmp_path / "cut/tiny/model").predict_proba(["good film", "bad plot"])
    np.testing.assert_array_equal(a, b)


def test_dp_with_lora_trains_only_the_adapters(tiny_config: dict) -> None:
    raw = _dp_config(tiny_config, clipping="hooks")
    raw["model"] = {**raw["model"], "lora": {"r": 4, "alpha": 8, "target_modules": ["query", "value"]}}
    metrics = train(build_config(raw), show_progress=False)
    assert metrics["train"]["privacy"]["clipping"] == "hooks"
    assert (Path(tiny_config["output_dir"]) / "tiny/model/adapter/adapter_config.json").is_file()


@pytest.mark.parametrize("other", ["adversarial", "counterfactual"])
def test_dp_refuses_mitigations_that_duplicate_examples(tiny_config: dict, other: str) -> None:
    raw = _dp_config(tiny_config)
    raw["train"][other] = {"method": "cda"} if other == "counterfactual" else {}
    with pytest.raises(ConfigError, match=f"train.privacy cannot be combined with train.{other}"):
        build_config(raw)


def test_freeze_embeddings_keeps_the_embedding_block_fixed(tiny_config: dict) -> None:
    from safetensors.torch import load_file

    raw = _dp_config(tiny_config, freeze_embeddings=True)
    train(build_config(raw), show_progress=False)
    trained = load_file(str(Path(tiny_config["output_dir"]) / "tiny/model/model.safetensors"))
    base = load_file(str(Path(tiny_config["model"]["name"]) / "model.safetensors"))
    emb = [k for k in trained if ".embeddings." in k]
    assert emb
    for k in emb:
        torch.testing.assert_close(trained[k], base[k.removeprefix("bert.")], atol=0, rtol=0)
    moved = [k for k in trained if "encoder.layer.0.attention.self.query.weight" in k]
    assert not torch.equal(trained[moved[0]], base[moved[0].removeprefix("bert.")])


def test_bias_only_trains_the_biases_layernorms_and_head_alone(tiny_config: dict) -> None:
    from safetensors.torch import load_file

    metrics = train(build_config(_dp_config(tiny_config, bias_only=True)), show_progress=False)
    trained = load_file(str(Path(tiny_config["output_dir"]) / "tiny/model/model.safetensors"))
    base = load_file(str(Path(tiny_config["model"]["name"]) / "model.safetensors"))
    moved = {k for k in trained if k.removeprefix("bert.") not in base}  # the new head
    moved |= {
        k for k in trained if k not in moved and not torch.equal(trained[k], base[k.removeprefix("bert.")])
    }
    biases = {k for k in trained if k.endswith(".bias")}
    norms = {k for k in trained if "LayerNorm" in k}
    assert {"classifier.weight", "classifier.bias"} <= moved
    assert (
        "bert.encoder.layer.0.attention.self.query.bias" in moved
        and "bert.embeddings.LayerNorm.weight" in moved
    )
    assert moved <= biases | norms | {"classifier.weight"}  # no weight matrix of the encoder moved
    # the noise went to the trainable weights alone: the tiny BERT's biases and LayerNorms, and the head
    expected = sum(trained[k].numel() for k in biases | norms | {"classifier.weight"})
    assert metrics["train"]["privacy"]["noised_parameters"] == expected


def test_bias_only_is_refused_with_lora(tiny_config: dict) -> None:
    raw = _dp_config(tiny_config, bias_only=True)
    raw["model"] = {**raw["model"], "lora": {"r": 4}}
    with pytest.raises(ConfigError, match=r"bias_only cannot be combined with model\.lora"):
        build_config(raw)


def test_trainable_layers_trains_only_the_top_of_the_model(tiny_model_dir: Path) -> None:
    from fairtune.config import ModelConfig
    from fairtune.models import build_classifier
    from fairtune.training._loop import train_only_top

    model, _ = build_classifier(ModelConfig(name=str(tiny_model_dir)), ["negative", "positive"])
    train_only_top(model, 1)  # the tiny BERT has layers 0 and 1
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(("layer.1." in n or "pooler" in n or "classifier" in n) for n in trained)
    assert any("layer.1." in n for n in trained) and any("classifier" in n for n in trained)
    train_only_top(model, 0)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        n for n in trained if "pooler" in n or "classifier" in n
    }


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_cached_frozen_layers_train_exactly_like_running_them(
    tiny_config: dict, tmp_path: Path, pooling: str
) -> None:
    """With dropout off, DP training of the top layer on cached frozen states gives the same weights as
    running the frozen layers at every step (the cache only changes speed, and drops their dropout), with
    either head."""
    import shutil

    from safetensors.torch import load_file

    model_dir = tmp_path / "no-dropout"
    shutil.copytree(tiny_config["model"]["name"], model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model_dir / "config.json").write_text(json.dumps(cfg))
    weights, info = {}, {}
    for cache in (True, False):
        raw = _dp_config(tiny_config, trainable_layers=1, cache_frozen=cache)
        model = {"name": str(model_dir), "pooling": pooling}
        raw = {**raw, "model": model, "output_dir": str(tmp_path / f"cache-{cache}")}
        metrics = train(build_config(raw), show_progress=False)
        info[cache] = metrics["train"]["privacy"]["frozen_cache"]
        weights[cache] = load_file(str(tmp_path / f"cache-{cache}" / "tiny/model/model.safetensors"))
    assert info[True]["used"] and info[True]["layers_cached"] == 1  # the tiny BERT's layer 0
    assert info[False] == {"used": False, "why": "off"}
    moved = 0
    for name, w in weights[True].items():
        torch.testing.assert_close(w, weights[False][name], atol=1e-5, rtol=1e-4)
        base = load_file(str(model_dir / "model.safetensors")).get(name.removeprefix("bert."))
        moved += base is not None and not torch.equal(base, w)
    assert moved  # the top layer did train


def test_frozen_cache_applies_only_when_everything_below_is_frozen(tiny_model_dir: Path) -> None:
    from fairtune.config import ModelConfig
    from fairtune.models import build_classifier
    from fairtune.training._frozen import cacheable
    from fairtune.training._loop import train_only_top

    model, _ = build_classifier(ModelConfig(name=str(tiny_model_dir)), ["negative", "positive"])
    assert "still trains" in str(cacheable(model, 1))  # nothing frozen yet
    train_only_top(model, 1)
    assert cacheable(model, 1) is None
    assert cacheable(model, 2) == "every encoder layer trains"
    model.bert.embeddings.word_embeddings.weight.requires_grad_(True)
    assert "word_embeddings" in str(cacheable(model, 1))
