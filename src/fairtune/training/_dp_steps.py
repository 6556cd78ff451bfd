"""The DP-SGD step strategy: Poisson batches, per-example clipping piece by piece, one noisy step."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

import torch

from fairtune.errors import ConfigError
from fairtune.training._batching import collate
from fairtune.training._frozen import FrozenBottomCache, cacheable
from fairtune.training._privacy import (
    DpEngine,
    epsilon_spent,
    length_pieces,
    model_forward_ids,
    plan_privacy,
    poisson_batch,
)

DP_ONE_PROCESS = "train.privacy: DP training runs in one process; launch it without accelerate/torchrun."
DP_NO_OBJECTIVES = "train.privacy: {names} is not part of DP training; train without it or without DP."


def restrict_trainable(model: Any, dp: Any) -> tuple[FrozenBottomCache | None, dict[str, Any] | None]:
    """Apply train.privacy's freezing options before the optimizer is made; the frozen-bottom cache (or
    why it is not used) when only the top layers train."""
    from fairtune.training._loop import freeze_embeddings, train_only_biases, train_only_top

    if dp.freeze_embeddings:
        freeze_embeddings(model)
    if dp.bias_only:
        train_only_biases(model)
    if dp.trainable_layers is None:
        return None, None
    train_only_top(model, dp.trainable_layers)
    why_not = cacheable(model, dp.trainable_layers) if dp.cache_frozen else "off"
    if why_not is None:
        return FrozenBottomCache(model, dp.trainable_layers), None
    return None, {"used": False, "why": why_not}


def _opacus_version() -> str:
    from importlib.metadata import version

    return version("opacus")


class DpSteps:
    """DP-SGD through Opacus (see `_privacy.py`); batches are a pure function of (seed, step)."""

    def __init__(self, trainer: Any, model: Any, optimizer: Any, objectives: list[Any]) -> None:
        t = self.t = trainer
        if objectives:
            raise ConfigError([DP_NO_OBJECTIVES.format(names=", ".join(o.name for o in objectives))])
        if t.acc.num_processes > 1:
            raise ConfigError([DP_ONE_PROCESS])
        self.cfg = t.cfg.privacy
        self.plan = plan_privacy(self.cfg, n=len(t.encoded), batch_size=t.cfg.batch_size, steps=t.total_steps)
        self.model = t.acc.prepare(model)
        self.engine = DpEngine(self.model, optimizer, self.plan)
        self.optimizer = self.engine.optimizer
        self.explicit_ids = model_forward_ids(model, t.tokenizer)
        self.frozen, self.frozen_info = t.frozen, t.frozen_info

    def batches(self, epoch: int) -> list[list[int]]:
        t = self.t
        first = epoch * t.steps_per_epoch
        return [
            poisson_batch(len(t.encoded), self.plan.sample_rate, seed=t.seed, step=first + b)
            for b in range(t.steps_per_epoch)
        ]

    def __call__(self, idx: list[int]) -> float:
        """One DP-SGD step: clip each text's gradient piece by piece, then one noisy AdamW step."""
        t = self.t
        total = 0.0
        pieces = length_pieces(idx, t.lengths, self.cfg.physical_batch_size)
        if not pieces:
            self.engine.empty_step()
        positions, token_types = self.explicit_ids
        for k, piece in enumerate(pieces):
            batch = collate(t.encoded, piece, t.data.train.labels, t.pad_id)
            labels = batch.pop("labels").to(t.acc.device)
            ids = batch["input_ids"]
            if positions:  # explicit, contiguous, per-example ids: Opacus needs them (NOTES-DEPS)
                batch["position_ids"] = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids).contiguous()
            if token_types:
                batch["token_type_ids"] = torch.zeros_like(ids)
            batch = {k2: v.to(t.acc.device) for k2, v in batch.items()}
            with t.acc.autocast(), self.frozen.top_only(piece) if self.frozen else nullcontext():
                logits = self.model(**batch).logits
            total += self.engine.backward_piece(logits, labels, last=k == len(pieces) - 1)
        self.engine.step()
        t.scheduler.step()
        return total / max(len(idx), 1)

    def start(self) -> None:
        """Run the frozen layers over every training text once (unless a resumed run has them); the
        time counts as training time."""
        from tqdm.auto import tqdm

        if self.frozen is None or self.frozen.states:
            return
        t = self.t
        t0 = time.perf_counter()
        bar = tqdm(total=len(t.encoded), disable=not t.show_progress, unit="text", desc="frozen layers, once")
        with bar:
            self.frozen.build(
                t.acc.unwrap_model(self.model),
                t.encoded,
                t.pad_id,
                batch_size=t.cfg.eval_batch_size,
                progress=bar.update,
            )
        seconds = time.perf_counter() - t0
        t.state.train_seconds += seconds
        self.frozen_info = {"used": True, "layers_cached": self.frozen.first, "seconds": seconds}

    def finish(self) -> dict[str, Any]:
        """The guarantee this run ended with, for metrics.json."""
        self.engine.cleanup()
        plan, steps = self.plan, self.t.state.step
        dp = {
            **plan.to_dict(),
            "epsilon_spent": epsilon_spent(
                plan.accountant, plan.noise_multiplier, plan.sample_rate, steps, plan.delta
            ),
            "steps_taken": steps,
            "noised_parameters": sum(p.numel() for p in self.engine.params),
            "sampling": "poisson",
            "library": f"opacus {_opacus_version()}",
        }
        if self.frozen_info is not None:
            dp["frozen_cache"] = self.frozen_info
        return dp
