"""Knowledge distillation (Hinton et al. 2015) from a teacher with the same labels, e.g. the model
before pruning: (1 - w) * cross-entropy + w * T² * KL(teacher's softened probabilities || the model's)."""

from __future__ import annotations

from typing import Any

import torch

from fairtune.training.objectives._base import Objective, ObjectiveContext, Step, register_objective


class Distillation(Objective):
    name = "distillation"

    def __init__(self, teacher: Any, weight: float, temperature: float, device: Any) -> None:
        self.teacher = teacher.eval().to(device)
        self.weight, self.temperature = weight, temperature
        self.task_weight = 1 - weight

    def loss(self, step: Step) -> torch.Tensor:
        t, w = self.temperature, self.weight
        with torch.no_grad():
            target = self.teacher(**{k: v for k, v in step.batch.items() if k != "labels"}).logits.float()
        kl = torch.nn.functional.kl_div(
            torch.log_softmax(step.out.logits.float() / t, dim=-1),
            torch.log_softmax(target / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        return w * t * t * kl

    def info(self) -> dict[str, Any]:
        return {"weight": self.weight, "temperature": self.temperature}


@register_objective("distillation", order=20)
def _build(ctx: ObjectiveContext) -> Distillation | None:
    """From the `teacher` extra (with `distill_weight`, `distill_temperature`) that compression passes."""
    teacher = ctx.extras.get("teacher")
    if teacher is None:
        return None
    weight = ctx.extras.get("distill_weight", 0.5)
    return Distillation(teacher, weight, ctx.extras.get("distill_temperature", 2.0), ctx.acc.device)
