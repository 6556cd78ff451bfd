"""Training objectives as components: the registry, logit pairing with template pairs, A2T attacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fairtune.config import build_config
from fairtune.data import load_lexicons, load_task_data
from fairtune.data._templates import read_templates
from fairtune.training.objectives import OBJECTIVES, ObjectiveContext, Step, build_objectives
from fairtune.training.objectives._pairing import template_pairs
from fairtune.workflows.train import train

WORDNET = Path("/usr/share/wordnet/data.noun").is_file()


def test_objectives_run_in_their_registered_order() -> None:
    ranked = [name for name, _ in OBJECTIVES.ordered()]
    # forward passes draw dropout masks in this order, which seeded runs depend on
    assert ranked == ["term_tying", "counterfactual_pairing", "distillation", "attack", "adversarial"]


def _ctx(raw: dict[str, Any], **extras: Any) -> tuple[ObjectiveContext, Any, Any]:
    from accelerate import Accelerator

    from fairtune.models import build_classifier

    cfg = build_config(raw)
    data = load_task_data(cfg.data, cfg.seed)
    model, tok = build_classifier(cfg.model, data.label_names)
    ctx = ObjectiveContext(cfg.train, tok, data, Accelerator(cpu=True), 16, tok.pad_token_id, 3, 40, extras)
    return ctx, model, data


def _step(model: Any, ctx: ObjectiveContext, idx: list[int], number: int) -> Step:
    from fairtune.training._batching import collate, tokenize

    batch = collate(tokenize(ctx.tokenizer, ctx.data.train.texts, 16), idx, ctx.data.train.labels, 0)
    return Step(model, batch, idx, model(**batch), None, ctx.acc, number)


def test_template_pairs_pair_every_two_groups_of_a_mitigation_row() -> None:
    lexicons = load_lexicons(["religion"])
    templates = read_templates(None, ("fairtune.mitigations", "templates.tsv"), "t")
    pairs = template_pairs(lexicons, templates)
    rows = lexicons[0].mitigation
    assert len(pairs) == len(rows) * 15 * len(templates)  # 6 groups: 15 pairs per row
    a, b = pairs[0]
    assert a != b and a.replace(rows[0][0], "") == b.replace(rows[0][1], "")


def test_pairing_draws_template_pairs_per_step_seeded(tiny_config: dict) -> None:
    raw = {**tiny_config}
    raw["train"] = {
        **tiny_config["train"],
        "counterfactual": {"method": "clp", "template_pairs": 4, "dimensions": ["gender"]},
    }
    ctx, model, _ = _ctx(raw)  # no training text has a partner here: template pairs alone
    (pairing,) = build_objectives(ctx)
    assert pairing.info()["template_pairs_per_step"] == 4 and pairing.info()["pairs"] == 0
    # pairs come from the neutral templates only: the labelled ones are identity balance's
    neutral = [
        t
        for t in read_templates(None, ("fairtune.mitigations", "templates.tsv"), "t")
        if t.label == "neutral"
    ]
    rows = load_lexicons(["gender"])[0].mitigation
    assert pairing.info()["template_pair_pool"] == len(rows) * len(neutral)
    assert all(any(a == t.fill(r[0]) for t in neutral for r in rows) for a, _ in pairing.synthetic)
    model.eval()
    step = _step(model, ctx, [0, 1, 2, 3], number=5)
    with torch.no_grad():
        loss = pairing.loss(step)
        assert loss is not None and float(loss) > 0  # a random model scores the two phrases differently
        assert float(pairing.loss(step)) == pytest.approx(float(loss))  # same step, same pairs
        assert float(pairing.loss(_step(model, ctx, [0, 1, 2, 3], number=6))) != pytest.approx(float(loss))


def test_pairing_is_off_without_partners_or_template_pairs(tiny_config: dict) -> None:
    raw = {**tiny_config}
    raw["train"] = {**tiny_config["train"], "counterfactual": {"method": "clp", "template_pairs": 0}}
    ctx, _, _ = _ctx(raw)
    assert build_objectives(ctx) == []
    raw["train"]["counterfactual"]["method"] = "cda"  # CDA is data only: no objective
    raw["train"]["counterfactual"]["template_pairs"] = 8
    assert build_objectives(_ctx(raw)[0]) == []


@pytest.mark.skipif(not WORDNET, reason="wordnet-base not installed")
def test_attack_training_trains_on_attacked_and_perturbed_copies_with_their_labels(tiny_config: dict) -> None:
    raw = {**tiny_config}
    raw["train"] = {**tiny_config["train"], "attack": {"share": 0.5, "perturb_share": 0.5, "start": 0.5}}
    ctx, model, data = _ctx(raw)
    (attack,) = build_objectives(ctx)
    assert attack.first_step == 20  # half of 40 steps
    idx = list(range(8))
    assert attack.loss(_step(model, ctx, idx, number=19)) is None  # not yet
    seen: list[tuple[str, int, int]] = []
    real = attack._adversarial

    def spy(step: Step, rows: list[int]) -> list[tuple[str, int, int]]:
        out = real(step, rows)
        seen.extend(out)
        assert len(rows) == 4
        return out

    attack._adversarial = spy
    loss = attack.loss(_step(model, ctx, idx, number=20))
    assert loss is not None and torch.isfinite(loss)
    info = attack.info()
    assert info["attacked"] == 4 and info["perturbed_copies"] >= 1
    for text, label, row in seen:  # each copy differs from its row's text by word swaps, label kept
        source = data.train.texts[idx[row]]
        assert text != source and len(text.split()) == len(source.split())
        assert label == int(data.train.labels[idx[row]])


@pytest.mark.skipif(not WORDNET, reason="wordnet-base not installed")
def test_attack_training_ranks_words_by_gradient_when_asked(
    tiny_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ranking: gradient hands the attack a gradient ranker built on the live model; unset, the attack
    ranks by deletion (no ranker)."""
    from fairtune.audits.robustness import WordSubstitutionAttack

    rankers: list[Any] = []
    real = WordSubstitutionAttack.attack
    monkeypatch.setattr(
        WordSubstitutionAttack,
        "attack",
        lambda s, t, y, rank=None: rankers.append(rank) or real(s, t, y, rank),
    )
    for ranking in (None, "gradient"):
        rankers.clear()
        attack_cfg = {"share": 0.5, "perturb_share": 0.0, "start": 0.0, "ranking": ranking}
        ctx, model, _ = _ctx({**tiny_config, "train": {**tiny_config["train"], "attack": attack_cfg}})
        (attack,) = build_objectives(ctx)
        attack.loss(_step(model, ctx, list(range(8)), number=0))
        assert len(rankers) == 1 and (rankers[0] is None) == (ranking is None)
        assert attack.info()["ranking"] == ranking and attack.info()["attacked"] == 4


@pytest.mark.skipif(not WORDNET, reason="wordnet-base not installed")
def test_attack_training_perturbs_with_every_audit_perturbation_when_asked(tiny_config: dict) -> None:
    """perturbations: all draws the perturbed copies from every invariance test of the audit (its wording
    ones too); unset, from the core twelve."""
    from fairtune.audits.robustness._perturb import perturbation_names

    drawn = {}
    for setting in (None, "core", "all"):
        attack_cfg = {"share": 0.0, "perturb_share": 1.0, "start": 0.0, "perturbations": setting}
        ctx, model, _ = _ctx({**tiny_config, "train": {**tiny_config["train"], "attack": attack_cfg}})
        (attack,) = build_objectives(ctx)
        drawn[setting] = set(attack.perturbations)
        assert attack.loss(_step(model, ctx, list(range(8)), number=0)) is not None
        assert attack.info()["perturbed_copies"] == 8 and attack.info()["perturbations"] == setting
    assert drawn[None] == drawn["core"] and "typo_drop" in drawn["core"] and "typo_ocr" not in drawn["core"]
    assert drawn["all"] == set(perturbation_names()) > drawn["core"]


@pytest.mark.skipif(not WORDNET, reason="wordnet-base not installed")
def test_attack_training_learns_and_records_what_it_did(tiny_config: dict) -> None:
    raw = {**tiny_config}
    raw["train"] = {**tiny_config["train"], "lr": 3e-3, "attack": {"share": 0.25}}
    metrics = train(build_config(raw), show_progress=False)
    assert metrics["eval"]["accuracy"] >= 0.9
    rec = metrics["train"]["objectives"]["attack"]
    assert rec["first_step"] == 12 and rec["attacked"] == 2 * (120 - 12)  # 2 of 8 texts per step
    assert rec["perturbed_copies"] > 0 and np.isfinite(metrics["train"]["history"][-1]["loss"])


def _recorded(method: Any, seen: list[Any]) -> Any:
    """`method`, with a copy of each list it returns appended to `seen`."""

    def spy(*args: Any) -> Any:
        out = method(*args)
        seen.append(list(out))
        return out

    return spy


@pytest.mark.skipif(not WORDNET, reason="wordnet-base not installed")
def test_attack_training_adds_query_free_synonym_copies_without_changing_the_others(
    tiny_config: dict,
) -> None:
    """synonym_share adds random-substitution copies; the attacked and perturbed rows stay those drawn
    without it, so turning it on changes nothing else."""
    attack_cfg = {"share": 0.25, "perturb_share": 0.25, "start": 0.0}
    copies = {}
    for extra in ({}, {"synonym_share": 0.5}):
        raw = {**tiny_config, "train": {**tiny_config["train"], "attack": {**attack_cfg, **extra}}}
        ctx, model, data = _ctx(raw)
        (attack,) = build_objectives(ctx)
        seen: list[list[tuple[str, int, int]]] = []
        for name in ("_adversarial", "_perturbed", "_substituted"):
            setattr(attack, name, _recorded(getattr(attack, name), seen))
        assert attack.loss(_step(model, ctx, list(range(8)), number=3)) is not None
        copies[bool(extra)] = seen
    plain, with_syn = copies[False], copies[True]
    assert len(plain) == 2 and with_syn[:2] == plain  # the same attacked and perturbed copies
    substituted = with_syn[2]
    assert 1 <= len(substituted) <= 4  # half of 8 rows, those with a word to swap
    for text, label, row in substituted:  # word swaps of its row's text, its label kept
        source = data.train.texts[row]
        assert text != source and len(text.split()) == len(source.split())
        assert label == int(data.train.labels[row])
    assert attack.info()["synonym_copies"] == len(substituted)


@pytest.mark.skipif(not WORDNET, reason="wordnet-base not installed")
def test_attack_training_consistency_adds_the_divergence_from_the_original_held_fixed(
    tiny_config: dict,
) -> None:
    """consistency adds lambda * KL(p(original) || p(copy)) to the copies' cross-entropy, each copy
    compared with its own row's prediction in the batch's forward pass, which gets no gradient from it."""
    import torch.nn.functional as F

    from fairtune.training._batching import collate, tokenize
    from fairtune.training.objectives._attack import AttackTraining

    attack_cfg = {"share": 0.0, "perturb_share": 0.5, "start": 0.0, "consistency": 2.5}
    ctx, model, _ = _ctx({**tiny_config, "train": {**tiny_config["train"], "attack": attack_cfg}})
    (with_kl,) = build_objectives(ctx)
    plain = AttackTraining(ctx.cfg.attack.model_copy(update={"consistency": None}), ctx, 40)
    model.eval()  # no dropout: the two objectives' forward passes match
    idx = [7, 0, 5, 2, 3, 6, 1, 4]  # batch rows are not training indices
    seen: list[list[tuple[str, int, int]]] = []
    with_kl._perturbed = _recorded(with_kl._perturbed, seen)
    step = _step(model, ctx, idx, number=4)
    # the batch's own predictions, set far apart row by row: a random tiny model scores every text
    # almost alike (logits within 1e-4), which would leave the divergence at float rounding
    step.out.logits = (3 * torch.randn(8, 2, generator=torch.Generator().manual_seed(0))).requires_grad_()
    loss = with_kl.loss(step)
    assert loss is not None
    copies = seen[0]
    rows = [c[2] for c in copies]  # half the batch's rows, not its first half
    assert len(rows) == 4 and rows == sorted(set(rows)) and rows != [0, 1, 2, 3]
    encoded = tokenize(ctx.tokenizer, [c[0] for c in copies], 16)
    batch = collate(encoded, list(range(4)), None, ctx.pad_id)
    with torch.no_grad():
        log_q = F.log_softmax(model(**batch).logits, -1)
        log_p = F.log_softmax(step.out.logits[rows], -1)
        kl = float((log_p.exp() * (log_p - log_q)).sum(-1).mean())
        base = plain.loss(_step(model, ctx, idx, number=4))
    assert kl > 0.1 and base is not None
    torch.testing.assert_close(float(loss.detach()), float(base) + 2.5 * kl, rtol=1e-5, atol=1e-6)
    assert with_kl.info()["mean_divergence"] == pytest.approx(kl, rel=1e-5)
    assert "mean_divergence" not in plain.info()
    loss.backward()
    assert step.out.logits.grad is None  # the original's prediction is the fixed target


def test_a2t_settings_out_of_range_are_refused_naming_the_field() -> None:
    from fairtune.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train\.attack\.share"):
        build_config({"train": {"attack": {"share": 1.5}}})
    with pytest.raises(ConfigError, match="share, perturb_share and synonym_share are all 0"):
        build_config({"train": {"attack": {"share": 0, "perturb_share": 0}}})
    with pytest.raises(ConfigError, match=r"train\.attack\.synonym_share"):
        build_config({"train": {"attack": {"synonym_share": 0}}})
    with pytest.raises(ConfigError, match=r"train\.attack\.consistency"):
        build_config({"train": {"attack": {"consistency": -1}}})
