"""Counterfactual logit pairing (Garg et al. 2019): lambda * mean |logits(x) - logits(x')| over the
batch's texts that have a counterfactual partner x' (the same text with identity terms swapped)."""

from __future__ import annotations

from typing import Any

import torch

from fairtune.training._batching import collate, tokenize
from fairtune.training.objectives._base import Objective, ObjectiveContext, Step, register_objective


class CounterfactualPairing(Objective):
    name = "counterfactual_pairing"

    def __init__(self, partners: dict[int, str], weight: float, ctx: ObjectiveContext) -> None:
        keys = sorted(partners)
        self.index = {k: j for j, k in enumerate(keys)}
        self.encoded = tokenize(ctx.tokenizer, [partners[k] for k in keys], ctx.max_length)
        self.weight, self.pad_id = weight, ctx.pad_id

    def loss(self, step: Step) -> torch.Tensor | None:
        paired = [(row, self.index[i]) for row, i in enumerate(step.idx) if i in self.index]
        if not paired:
            return None
        device = step.acc.device
        cf = collate(self.encoded, [j for _, j in paired], None, self.pad_id)
        cf_logits = step.model(**{k: v.to(device) for k, v in cf.items()}).logits
        rows = torch.as_tensor([r for r, _ in paired], device=device)
        return self.weight * (step.out.logits[rows] - cf_logits).abs().mean()

    def info(self) -> dict[str, Any]:
        return {"pairs": len(self.index), "weight": self.weight}


@register_objective("counterfactual_pairing")
def _build(ctx: ObjectiveContext) -> CounterfactualPairing | None:
    """From train.counterfactual (method clp or both) and the partners the train workflow made."""
    cfc, partners = ctx.cfg.counterfactual, ctx.extras.get("pair_texts")
    if cfc is None or not partners or cfc.clp_lambda <= 0:
        return None
    return CounterfactualPairing(partners, cfc.clp_lambda, ctx)
