"""Step strategies: how one optimizer step is taken. Chosen once per run: `StandardSteps` (mini-batches,
the task loss plus every extra objective) or, under train.privacy, `DpSteps` (in `_dp_steps.py`)."""

from __future__ import annotations

from typing import Any, Protocol

import torch

from fairtune.training._batching import collate, epoch_batches
from fairtune.training.objectives import Objective, Step


class StepStrategy(Protocol):
    model: Any
    optimizer: Any

    def batches(self, epoch: int) -> list[list[int]]: ...

    def start(self) -> None: ...

    def __call__(self, idx: list[int]) -> float: ...

    def finish(self) -> dict[str, Any] | None: ...


class StandardSteps:
    """Length-grouped mini-batches; loss = task_weight * cross-entropy + every objective's term."""

    def __init__(self, trainer: Any, model: Any, optimizer: Any, objectives: list[Objective]) -> None:
        self.t = trainer
        self.model, self.optimizer = trainer.acc.prepare(model, optimizer)
        self.objectives = objectives
        self.perturb = any(o.perturbs_inputs for o in objectives)
        self.task_weight = 1.0
        for o in objectives:
            self.task_weight *= o.task_weight

    def batches(self, epoch: int) -> list[list[int]]:
        t = self.t
        batches = epoch_batches(
            t.lengths, t.cfg.batch_size, seed=t.seed, epoch=epoch, group_by_length=t.cfg.length_grouping
        )
        world, rank = t.acc.num_processes, t.acc.process_index
        return batches[rank::world][: t.steps_per_epoch]

    def start(self) -> None:
        return None

    def _forward(self, batch: dict[str, torch.Tensor], idx: list[int]) -> Step:
        acc, delta = self.t.acc, None
        if self.perturb:
            embeds = acc.unwrap_model(self.model).get_input_embeddings()(batch["input_ids"])
            delta = torch.zeros_like(embeds, requires_grad=True)
            rest = {k: v for k, v in batch.items() if k != "input_ids"}
            out = self.model(inputs_embeds=embeds + delta, **rest)
        else:
            out = self.model(**batch)
        return Step(self.model, batch, idx, out, delta, acc, self.t.state.step)

    def __call__(self, idx: list[int]) -> float:
        t = self.t
        batch = collate(t.encoded, idx, t.data.train.labels, t.pad_id)
        batch = {k: v.to(t.acc.device) for k, v in batch.items()}
        with t.acc.autocast():
            step = self._forward(batch, idx)
            loss = step.out.loss if self.task_weight == 1.0 else step.out.loss * self.task_weight
            for obj in self.objectives:
                term = obj.loss(step)
                if term is not None:
                    loss = loss + term
        logged = loss.detach()
        t.acc.backward(loss)  # also leaves d loss / d delta in step.delta.grad, for objectives that perturb
        for obj in self.objectives:
            extra = obj.backward(step)
            if extra is not None:
                logged = logged + extra
        if t.cfg.max_grad_norm:
            t.acc.clip_grad_norm_(self.model.parameters(), t.cfg.max_grad_norm)
        self.optimizer.step()
        t.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(logged)

    def finish(self) -> dict[str, Any] | None:
        return None
