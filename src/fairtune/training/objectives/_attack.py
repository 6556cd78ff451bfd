"""Attack-based adversarial training in the manner of A2T (Yoo & Qi 2021), from train.attack.

At each step after the first `start` share of training, a seeded share of the batch is attacked with the
robustness audit's word-substitution attack run cheaply (leave-one-out or gradient word ranking, WordNet
synonyms, a small query budget, no sentence-similarity model) against the model as it is now, another
share gets one random label-preserving perturbation of the invariance tests (the core ones, or all of
them), and a third share (`synonym_share`, none by default) gets `max_change` of its words swapped for
random candidates of the attack, with no query. The model then also trains on those copies, with their
original labels: weight * cross-entropy on the copies is added to the loss, and, with `consistency`,
consistency * KL(p(original) || p(copy)), the original's prediction held fixed (UDA's consistency training,
Xie et al. 2020; TRADES, Zhang et al. 2019, with the clean side detached), which penalises a change of the
prediction itself, whatever the label.
The attack's queries run in inference mode, without dropout, so they draw no random numbers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fairtune.training._batching import collate, tokenize
from fairtune.training.objectives._base import Objective, ObjectiveContext, Step, register_objective

#: (text of the copy, its label, its row in the batch)
Copy = tuple[str, int, int]


class AttackTraining(Objective):
    name = "attack"

    def __init__(self, cfg: Any, ctx: ObjectiveContext, total_steps: int) -> None:
        from fairtune.audits.robustness import AttackSettings, Perturbations
        from fairtune.audits.robustness._audit import read_names
        from fairtune.data import load_wordnet

        self.cfg, self.ctx = cfg, ctx
        if cfg.ranking == "gradient" and not getattr(ctx.tokenizer, "is_fast", False):
            from fairtune.errors import ATTACK_RANKING_SLOW_TOKENIZER, ConfigError

            model, kind = getattr(ctx.tokenizer, "name_or_path", "?"), type(ctx.tokenizer).__name__
            raise ConfigError([ATTACK_RANKING_SLOW_TOKENIZER.format(model=model, kind=kind)])
        self.wordnet = wordnet = load_wordnet(cfg.wordnet, "train.attack.wordnet")
        self.settings = AttackSettings(
            max_change=cfg.max_change,
            min_similarity=None,
            query_budget=cfg.query_budget,
            max_candidates=cfg.max_candidates,
        )
        self.attack: Any = None  # made at the first attack: it needs the live model
        self.synonyms: Any = None  # the attack's candidates, for the query-free copies
        families = Perturbations(wordnet, read_names())
        self.perturbations = families.all() if cfg.perturbations == "all" else families.core()
        self.first_step = int(cfg.start * total_steps)
        self.counts = {
            "attacked": 0,
            "attack_succeeded": 0,
            "adversarial_copies": 0,
            "perturbed_copies": 0,
            "synonym_copies": 0,
        }
        self.divergences: list[float] = []  # the consistency term of each step that has one

    def _adversarial(self, step: Step, rows: list[int]) -> list[Copy]:
        from fairtune.audits.robustness import WordSubstitutionAttack
        from fairtune.audits.robustness._attack import CachedClassifier
        from fairtune.models import TorchClassifier
        from fairtune.training.objectives._ranking import gradient_ranker

        train = self.ctx.data.train
        model = step.acc.unwrap_model(step.model)
        live = TorchClassifier(model, self.ctx.tokenizer, max_length=self.ctx.max_length, precision="auto")
        if self.attack is None:
            self.attack = WordSubstitutionAttack(live, self.wordnet, self.settings)
        self.attack.clf = CachedClassifier(live)  # a fresh cache: the model moved since the last step
        rank = None
        if self.cfg.ranking == "gradient":
            rank = gradient_ranker(model, self.ctx.tokenizer, self.ctx.max_length)
        idx = [step.idx[r] for r in rows]
        examples, _ = self.attack.attack([train.texts[i] for i in idx], train.labels[idx], rank)
        self.counts["attacked"] += len(examples)
        self.counts["attack_succeeded"] += sum(ex.success for ex in examples)
        return [(ex.current(), ex.label, r) for r, ex in zip(rows, examples, strict=True) if ex.changed]

    def _copies(self, step: Step, rows: list[int], make: Callable[[str], str | None]) -> list[Copy]:
        """(made copy, label, row) for each of `rows` whose text `make` changes."""
        train, out = self.ctx.data.train, []
        for r in rows:
            i = step.idx[r]
            new = make(train.texts[i])
            if new is not None and new != train.texts[i]:
                out.append((new, int(train.labels[i]), r))
        return out

    def _perturbed(self, step: Step, rows: list[int], rng: random.Random) -> list[Copy]:
        from fairtune.audits.robustness._perturb import perturb_once

        return self._copies(step, rows, lambda text: perturb_once(text, self.perturbations, rng))

    def _substituted(self, step: Step, rows: list[int], rng: random.Random) -> list[Copy]:
        from fairtune.audits.robustness._attack import Synonyms, random_substitution

        if self.synonyms is None:
            self.synonyms = Synonyms(self.wordnet, self.settings)
        syn, max_change = self.synonyms, self.cfg.max_change
        return self._copies(step, rows, lambda text: random_substitution(text, syn, max_change, rng))

    def _rows(self, rng: np.random.Generator, n: int, share: float) -> list[int]:
        k = round(share * n)
        return sorted(rng.choice(n, size=k, replace=False).tolist()) if k else []

    def loss(self, step: Step) -> torch.Tensor | None:
        if step.number < self.first_step:
            return None
        rng = np.random.default_rng([self.ctx.seed, step.number, 2021])
        n = len(step.idx)
        copies = self._adversarial(step, self._rows(rng, n, self.cfg.share)) if self.cfg.share else []
        self.counts["adversarial_copies"] += len(copies)
        py_rng = random.Random(int(rng.integers(2**31)))
        perturbed = self._perturbed(step, self._rows(rng, n, self.cfg.perturb_share), py_rng)
        self.counts["perturbed_copies"] += len(perturbed)
        copies += perturbed
        if self.cfg.synonym_share:  # drawn after the others, so their rows stay what they were
            substituted = self._substituted(step, self._rows(rng, n, self.cfg.synonym_share), py_rng)
            self.counts["synonym_copies"] += len(substituted)
            copies += substituted
        if not copies:
            return None
        encoded = tokenize(self.ctx.tokenizer, [c[0] for c in copies], self.ctx.max_length)
        batch = collate(encoded, list(range(len(copies))), np.array([c[1] for c in copies]), self.ctx.pad_id)
        out = step.model(**{k: v.to(step.acc.device) for k, v in batch.items()})
        loss = self.cfg.weight * out.loss
        if self.cfg.consistency:
            loss = loss + self.cfg.consistency * self._divergence(step, out.logits, [c[2] for c in copies])
        return loss

    def _divergence(self, step: Step, logits: torch.Tensor, rows: list[int]) -> torch.Tensor:
        """Mean over copies of KL(p(original) || p(copy)), the original's prediction (from the batch's own
        forward pass) held fixed."""
        clean = step.out.logits[torch.as_tensor(rows, device=logits.device)].detach().float()
        kl = F.kl_div(
            F.log_softmax(logits.float(), -1),
            F.log_softmax(clean, -1),
            reduction="batchmean",
            log_target=True,
        )
        self.divergences.append(float(kl.detach()))
        return kl

    def info(self) -> dict[str, Any]:
        info = {**self.cfg.model_dump(), "first_step": self.first_step, **self.counts}
        if self.divergences:
            info["mean_divergence"] = float(np.mean(self.divergences))
        return info


@register_objective("attack", order=30)
def _build(ctx: ObjectiveContext) -> AttackTraining | None:
    """From train.attack."""
    if ctx.cfg.attack is None:
        return None
    return AttackTraining(ctx.cfg.attack, ctx, ctx.total_steps)
