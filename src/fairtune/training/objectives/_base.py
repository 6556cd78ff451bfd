"""The objective interface, the step it sees, and the registry.

An objective is one extra training loss, built from its config section and summed onto the task's
cross-entropy. A new one adds a file here with a factory registered by `register_objective`; the
training loop does not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from fairtune._registry import Registry


@dataclass
class Step:
    """What the objectives of one optimizer step see."""

    model: Any  # the model as prepared by Accelerate
    batch: dict[str, torch.Tensor]  # input_ids, attention_mask, labels, ... on the device
    idx: list[int]  # the training indices of the batch's rows
    out: Any  # the model's output on the batch (.loss, .logits)
    #: the zero perturbation of the input embeddings, when one was asked for; once the total loss is
    #: backpropagated, its .grad holds that loss's gradient with respect to the embeddings
    delta: torch.Tensor | None
    acc: Any  # the Accelerator (device, autocast, backward, unwrap_model)
    number: int = 0  # optimizer steps taken before this one: seeds anything an objective draws per step

    def embed(self) -> torch.Tensor:
        """The batch's input embeddings, through the model's own embedding layer."""
        return self.acc.unwrap_model(self.model).get_input_embeddings()(self.batch["input_ids"])

    def without_ids(self) -> dict[str, torch.Tensor]:
        """The batch less its input ids, to pass with `inputs_embeds`."""
        return {k: v for k, v in self.batch.items() if k != "input_ids"}


@dataclass
class ObjectiveContext:
    """What a factory may read to build its objective."""

    cfg: Any  # TrainConfig
    tokenizer: Any
    data: Any  # TaskData, after data-side mitigations
    acc: Any
    max_length: int
    pad_id: int
    seed: int = 0
    total_steps: int = 0
    extras: dict[str, Any] = field(default_factory=dict)  # teacher, pair_texts, ... from the workflow
    #: the model before Accelerate prepares it, for an objective that constrains its weights (term tying)
    model: Any = None


class Objective:
    """One extra loss. Override `loss` for a term summed onto the task loss inside autocast, and
    `backward` for one that needs its own backward pass after the total loss's."""

    name: ClassVar[str] = "objective"
    #: the step adds a zero perturbation to the input embeddings and hands it over as `Step.delta`
    perturbs_inputs: ClassVar[bool] = False
    #: the task loss's weight while this objective is on (distillation shares it with its own term)
    task_weight: float = 1.0

    def loss(self, step: Step) -> torch.Tensor | None:
        return None

    def backward(self, step: Step) -> torch.Tensor | None:
        """Run any backward pass of its own, after the total loss's (whose gradient with respect to the input
        embeddings is in `step.delta.grad` when the objective perturbs inputs); return the (detached,
        weighted) loss it adds to the log."""
        return None

    def info(self) -> dict[str, Any]:
        """What metrics.json records about this objective."""
        return {}


Factory = Callable[[ObjectiveContext], Objective | None]
#: name -> factory. Objectives run within a step by their order: their forward passes draw dropout masks
#: from one generator, so the order is part of what a seeded run computes.
OBJECTIVES: Registry[Factory] = Registry("objective")


def register_objective(name: str, order: int) -> Callable[[Factory], Factory]:
    """Register `factory(ctx) -> Objective | None` (None: its config section is off); `order` places
    it among the others within a step."""
    return OBJECTIVES.register(name, order)


def build_objectives(ctx: ObjectiveContext) -> list[Objective]:
    return [obj for _, factory in OBJECTIVES.ordered() if (obj := factory(ctx)) is not None]
