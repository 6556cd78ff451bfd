"""Counterfactual logit pairing (Garg et al. 2019): weight * mean |logits(x) - logits(x')| over pairs of
texts that differ only in identity terms, one mean per source of pairs. Pairs come from two places:

- training texts of the batch that have a counterfactual partner (the text with its terms swapped);
- synthetic pairs drawn each step from the mitigation-side *neutral* templates: one template filled with
  two groups' phrases of the same @mitigate lexicon row (Garg et al. pair synthetic sentences too).
  Neutral sentences carry no label, so pairing is the one mitigation that can use them; the labelled
  templates are left to identity balance, whose cross-entropy keeps them apart by sentiment. Pairing
  labelled template sentences as well let the model give every template-like sentence the same
  logits (see docs/mitigations.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fairtune.training._batching import collate, tokenize
from fairtune.training.objectives._base import Objective, ObjectiveContext, Step, register_objective

PACKAGED_TEMPLATES = ("fairtune.mitigations", "templates.tsv")


def template_pairs(lexicons: list[Any], templates: list[Any]) -> list[tuple[str, str]]:
    """Every template filled with every two groups' phrases of every @mitigate row."""
    out = []
    for lex in lexicons:
        for row in lex.mitigation:
            for a in range(len(row)):
                for b in range(a + 1, len(row)):
                    out += [(t.fill(row[a]), t.fill(row[b])) for t in templates]
    return out


class CounterfactualPairing(Objective):
    name = "counterfactual_pairing"

    def __init__(
        self,
        partners: dict[int, str],
        weight: float,
        ctx: ObjectiveContext,
        synthetic: list[tuple[str, str]] | None = None,
        per_step: int = 0,
    ) -> None:
        keys = sorted(partners)
        self.index = {k: j for j, k in enumerate(keys)}
        self.encoded = tokenize(ctx.tokenizer, [partners[k] for k in keys], ctx.max_length) if keys else []
        self.weight, self.pad_id = weight, ctx.pad_id
        self.synthetic, self.per_step = synthetic or [], per_step if synthetic else 0
        self.tokenizer, self.max_length, self.seed = ctx.tokenizer, ctx.max_length, ctx.seed

    def _logits(self, step: Step, encoded: list[list[int]], rows: list[int]) -> torch.Tensor:
        batch = collate(encoded, rows, None, self.pad_id)
        return step.model(**{k: v.to(step.acc.device) for k, v in batch.items()}).logits

    def _synthetic_gaps(self, step: Step) -> torch.Tensor | None:
        if not self.per_step:
            return None
        rng = np.random.default_rng([self.seed, step.number])
        picks = rng.choice(len(self.synthetic), size=min(self.per_step, len(self.synthetic)), replace=False)
        texts = [self.synthetic[int(k)][0] for k in picks] + [self.synthetic[int(k)][1] for k in picks]
        logits = self._logits(step, tokenize(self.tokenizer, texts, self.max_length), list(range(len(texts))))
        return logits[: len(picks)] - logits[len(picks) :]

    def loss(self, step: Step) -> torch.Tensor | None:
        gaps = []
        paired = [(row, self.index[i]) for row, i in enumerate(step.idx) if i in self.index]
        if paired:
            cf_logits = self._logits(step, self.encoded, [j for _, j in paired])
            rows = torch.as_tensor([r for r, _ in paired], device=step.acc.device)
            gaps.append(step.out.logits[rows] - cf_logits)
        synthetic = self._synthetic_gaps(step)
        if synthetic is not None:
            gaps.append(synthetic)
        if not gaps:
            return None
        # one mean per source, so a few training pairs in a batch are not diluted by many template pairs
        return self.weight * sum(g.abs().mean() for g in gaps)  # type: ignore[return-value]

    def info(self) -> dict[str, Any]:
        return {
            "pairs": len(self.index),
            "weight": self.weight,
            "template_pairs_per_step": self.per_step,
            "template_pair_pool": len(self.synthetic),
        }


@register_objective("counterfactual_pairing", order=10)
def _build(ctx: ObjectiveContext) -> CounterfactualPairing | None:
    """From train.counterfactual (method clp or both): the partners the counterfactual transform made,
    and template pairs from the lexicons' @mitigate rows."""
    cfc = ctx.cfg.counterfactual
    if cfc is None or cfc.method not in ("clp", "both") or cfc.clp_lambda <= 0:
        return None
    synthetic = None
    if cfc.template_pairs:
        from fairtune.data import load_lexicons
        from fairtune.data._templates import read_templates

        lexicons = load_lexicons(cfc.dimensions, cfc.lexicon_dir, "train.counterfactual")
        templates = read_templates(cfc.templates, PACKAGED_TEMPLATES, "train.counterfactual.templates")
        synthetic = template_pairs(lexicons, [t for t in templates if t.label == "neutral"])
    partners = ctx.extras.get("pair_texts") or {}
    if not partners and not synthetic:
        return None
    return CounterfactualPairing(partners, cfc.clp_lambda, ctx, synthetic, cfc.template_pairs)
