"""Embedding-space adversarial training (Miyato et al. 2017 FGM; Madry et al. 2018 PGD, as in FreeLB):
step along the normalised gradient of the loss with respect to the input embeddings, project each
example's perturbation onto an L2 ball, and add the loss at the last point."""

from __future__ import annotations

from typing import Any

import torch

from fairtune.training.objectives._base import Objective, ObjectiveContext, Step, register_objective


def _norm(t: torch.Tensor) -> torch.Tensor:
    """Each example's L2 norm, shaped to broadcast over the example."""
    return t.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *([1] * (t.dim() - 1)))


class EmbeddingAdversarial(Objective):
    name = "adversarial"
    perturbs_inputs = True

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg  # AdversarialConfig

    def backward(self, step: Step) -> torch.Tensor:
        # The total loss's own backward pass left its gradient at the embeddings: the first step's
        # direction costs no extra pass through the encoder.
        if step.delta is None or step.delta.grad is None:  # perturbs_inputs asks the loop for it
            raise RuntimeError("adversarial training: the loss has no gradient at the input embeddings")
        return self.cfg.weight * self.perturbed_loss(step, step.delta.grad)

    def perturbed_loss(self, step: Step, grad: torch.Tensor) -> torch.Tensor:
        """Backpropagate weight * the loss at the end of the FGM/PGD walk from `grad`; return that loss.
        epsilon is relative to each example's own embedding norm, so it means the same for any model."""
        adv = self.cfg
        steps = 1 if adv.method == "fgm" else adv.steps
        rest = step.without_ids()
        delta = torch.zeros_like(grad)
        with torch.no_grad():
            radius = adv.epsilon * _norm(step.embed().float())
        alpha = radius if adv.method == "fgm" else radius * ((adv.alpha or adv.epsilon / 2) / adv.epsilon)
        for k in range(steps):
            delta = delta + alpha * grad / _norm(grad)
            delta = delta * torch.clamp(radius / _norm(delta), max=1.0)
            delta = delta.detach().requires_grad_(k < steps - 1)
            with step.acc.autocast():
                adv_loss = step.model(inputs_embeds=step.embed() + delta, **rest).loss
            if k < steps - 1:
                (grad,) = torch.autograd.grad(adv_loss, delta)
        step.acc.backward(adv.weight * adv_loss)
        return adv_loss.detach()

    def info(self) -> dict[str, Any]:
        return dict(self.cfg.model_dump())


@register_objective("adversarial", order=40)
def _build(ctx: ObjectiveContext) -> EmbeddingAdversarial | None:
    """From train.adversarial."""
    return EmbeddingAdversarial(ctx.cfg.adversarial) if ctx.cfg.adversarial is not None else None
