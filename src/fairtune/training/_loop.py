"""The fine-tuning loop: AdamW + linear warmup/decay, clipping, early stopping, checkpoints, resume.

Device placement, DDP and autocast go through Hugging Face Accelerate, so the same code runs
under `accelerate launch` / `torchrun`. Batches are a pure function of (seed, epoch), so a resumed
run skips exactly the batches it already saw and ends with the same weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fairtune._crypto import KeySource
from fairtune._io import clean_leftovers
from fairtune.config import TrainConfig
from fairtune.data import TaskData
from fairtune.evaluation import classification_metrics, cross_entropy
from fairtune.tracking import Trackers, trackers_for
from fairtune.training._batching import tokenize
from fairtune.training._checkpoint import (
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from fairtune.training._precision import resolve_precision

LOWER_IS_BETTER = {"loss", "ece"}


@dataclass
class FitResult:
    state: TrainState
    eval_metrics: dict[str, Any]
    precision: str
    world_size: int
    dp: dict[str, Any] | None = None


HEAD_NAMES = ("classifier", "score")


def is_head(name: str) -> bool:
    """Whether parameter `name` belongs to the classification head (`classifier`/`score` in HF models)."""
    return any(part in name.split(".") for part in HEAD_NAMES)


def is_norm(name: str) -> bool:
    """Whether parameter `name` is a LayerNorm weight or bias."""
    return "LayerNorm" in name or "layer_norm" in name


def make_optimizer(model: Any, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with no weight decay on biases and LayerNorm weights (as BERT was trained). With
    `train.head_lr` set, the head's weights get two more groups at that rate; without it the groups are
    the two they always were, so checkpoints of earlier runs still resume."""
    own_lr = cfg.head_lr is not None
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {(False, True): [], (False, False): []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decays = not (p.ndim < 2 or is_norm(name))
        groups.setdefault((own_lr and is_head(name), decays), []).append(p)
    param_groups = [
        {
            "params": ps,
            "weight_decay": cfg.weight_decay if decays else 0.0,
            "lr": cfg.head_lr if head else cfg.lr,
        }
        for (head, decays), ps in groups.items()
    ]
    # The fused kernel (CPU and CUDA) took the optimizer step from 73 ms to 24 ms for MiniLM on 2 cores.
    return torch.optim.AdamW(param_groups, lr=cfg.lr, fused=True)


def evaluate_model(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    labels: np.ndarray,
    label_names: list[str],
    *,
    batch_size: int,
    max_length: int,
    precision: str,
) -> dict[str, Any]:
    from fairtune.models import TorchClassifier, softmax

    clf = TorchClassifier(model, tokenizer, batch_size=batch_size, max_length=max_length, precision=precision)
    logits = clf.logits(texts)
    return classification_metrics(labels, softmax(logits), label_names, loss=cross_entropy(labels, logits))


def schedule(cfg: TrainConfig, n_train: int, world: int = 1) -> tuple[int, int]:
    """(steps per epoch, total steps). Under train.privacy, batches are Poisson samples of expected
    size train.batch_size, so an epoch is n / batch_size steps."""
    if cfg.privacy is not None:
        per_epoch = max(1, round(n_train / cfg.batch_size))
    else:
        per_epoch = max(1, math.ceil(n_train / cfg.batch_size) // world)
    total = math.ceil(cfg.epochs * per_epoch)
    return per_epoch, (min(total, cfg.max_steps) if cfg.max_steps else total)


def freeze_embeddings(model: Any) -> None:
    """Stop training the input embeddings (and, for BERT-like models, the whole embeddings block)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    owner = getattr(base, getattr(base, "base_model_prefix", ""), base)
    block = getattr(owner, "embeddings", None)
    for p in block.parameters() if isinstance(block, torch.nn.Module) else []:
        p.requires_grad_(False)
    base.get_input_embeddings().weight.requires_grad_(False)


def train_only_top(model: Any, n_layers: int) -> None:
    """Freeze every weight but the classifier head, the pooler and the top `n_layers` encoder layers."""
    import re

    layer_of = {
        name: int(m.group(1))
        for name, _ in model.named_parameters()
        if (m := re.search(r"\.layers?\.(\d+)\.", name))
    }
    top = max(layer_of.values(), default=-1)
    for name, p in model.named_parameters():
        keep = is_head(name) or "pooler" in name or (name in layer_of and layer_of[name] > top - n_layers)
        if not keep:
            p.requires_grad_(False)


def train_only_biases(model: Any) -> None:
    """BitFit (Ben Zaken et al. 2022): freeze every weight but the bias terms, the LayerNorm weights and the
    classifier head."""
    for name, p in model.named_parameters():
        if not (is_head(name) or name.endswith(".bias") or is_norm(name)):
            p.requires_grad_(False)


def _forget_other_precision(mixed_precision: str) -> None:
    """accelerate keeps one mixed precision per process and refuses an Accelerator with another. One
    process may train several models with different precisions (a run's mitigations, the privacy audit's
    reference model, `fairtune.workflows` called from Python), so the precision is reset between them.
    The process group (accelerate's PartialState) is kept."""
    from accelerate.state import AcceleratorState

    shared = AcceleratorState._shared_state
    if shared and shared.get("_mixed_precision") != mixed_precision:
        AcceleratorState._reset_state(reset_partial_state=False)


class Trainer:
    """Owns one fine-tuning run in `run_dir` (checkpoints/, events/)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        data: TaskData,
        cfg: TrainConfig,
        *,
        run_dir: Path,
        seed: int,
        max_length: int,
        show_progress: bool = True,
        trackers: Trackers | None = None,
        checkpoint_encryption: KeySource | None = None,
        **extras: Any,
    ) -> None:
        """`trackers` get the training curves (`fairtune.tracking`): the train workflow hands in those
        train.report_to names and closes them after logging the final numbers. Unset: TensorBoard events
        in run_dir/events, closed when `fit` ends. `checkpoint_encryption` (the run's `encryption:`
        section, when it asks for checkpoints) encrypts every checkpoint file.

        `extras` go to the objectives' factories (`fairtune.training.objectives`): `pair_texts` (a
        training index -> its counterfactual partner, for logit pairing under train.counterfactual),
        `teacher` with `distill_weight` and `distill_temperature` (distillation). The step strategy is
        chosen once: DP-SGD under train.privacy, plain mini-batches otherwise."""
        from accelerate import Accelerator

        from fairtune.training._dp_steps import DpSteps, restrict_trainable
        from fairtune.training._steps import StandardSteps, StepStrategy
        from fairtune.training.objectives import ObjectiveContext, build_objectives

        self.cfg, self.data, self.seed, self.max_length = cfg, data, seed, max_length
        self.run_dir = run_dir
        self.ckpt_root = run_dir / "checkpoints"
        self.ckpt_encryption = checkpoint_encryption
        self.precision = resolve_precision(cfg.precision)
        mixed = "bf16" if self.precision == "bf16" else "no"
        _forget_other_precision(mixed)
        self.acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mixed)
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id or 0
        self.encoded = tokenize(tokenizer, data.train.texts, max_length)
        self.lengths = [len(e) for e in self.encoded]
        self.steps_per_epoch, self.total_steps = schedule(cfg, len(self.encoded), self.acc.num_processes)
        self.model_raw = model
        self.frozen, self.frozen_info = (
            restrict_trainable(model, cfg.privacy) if cfg.privacy is not None else (None, None)
        )
        optimizer = make_optimizer(model, cfg)
        from transformers import get_linear_schedule_with_warmup

        self.scheduler = get_linear_schedule_with_warmup(
            optimizer, int(cfg.warmup_ratio * self.total_steps), self.total_steps
        )
        ctx = ObjectiveContext(
            cfg, tokenizer, data, self.acc, max_length, self.pad_id, seed, self.total_steps, extras, model
        )
        self.objectives = build_objectives(ctx)
        self.show_progress = show_progress and self.acc.is_main_process
        self.state = TrainState()
        strategy = DpSteps if cfg.privacy is not None else StandardSteps
        self.steps: StepStrategy = strategy(self, model, optimizer, self.objectives)
        self.model, self.optimizer = self.steps.model, self.steps.optimizer
        self.own_trackers = trackers is None
        self.trackers = trackers_for(["tensorboard"], run_dir) if trackers is None else trackers

    # -- pieces -------------------------------------------------------------------------------
    def _train_step(self, idx: list[int]) -> float:
        return self.steps(idx)

    def evaluate(self) -> dict[str, Any]:
        ev = self.data.eval
        return evaluate_model(
            self.acc.unwrap_model(self.model),
            self.tokenizer,
            ev.texts,
            ev.labels,
            self.data.label_names,
            batch_size=self.cfg.eval_batch_size,
            max_length=self.max_length,
            precision=self.precision,
        )

    def _improved(self, value: float) -> bool:
        es = self.cfg.early_stopping
        metric = es.metric if es else "accuracy"
        best = self.state.best_metric
        if best is None:
            return True
        delta = es.min_delta if es else 0.0
        return value < best - delta if metric in LOWER_IS_BETTER else value > best + delta

    def _eval_and_track(self) -> dict[str, Any]:
        metrics = self.evaluate()
        st = self.state
        st.last_eval_step = st.step
        summary = {k: metrics[k] for k in ("accuracy", "macro_f1", "ece", "loss")}
        st.evals.append({"step": st.step, "epoch": st.epoch, "samples": st.samples, **summary})
        self._scalars("eval", summary)
        if not self.show_progress and self.acc.is_main_process:
            print(
                f"step {st.step}/{self.total_steps}: "
                + " ".join(f"eval_{k}={v:.4f}" for k, v in summary.items()),
                flush=True,
            )
        es = self.cfg.early_stopping
        value = summary[es.metric if es else "accuracy"]
        if self._improved(value):
            st.best_metric, st.best_step, st.bad_evals = value, st.step, 0
            if es is not None and self.acc.is_main_process:
                (self.ckpt_root / "best").mkdir(parents=True, exist_ok=True)
                save_weights(
                    self.acc.unwrap_model(self.model),
                    self.ckpt_root / "best" / "model.safetensors",
                    self.ckpt_encryption,
                )
        else:
            st.bad_evals += 1
            if es is not None and st.bad_evals >= es.patience:
                st.stopped_early = True
        return metrics

    def _scalars(self, prefix: str, values: dict[str, float]) -> None:
        self.trackers.log({f"{prefix}/{key}": val for key, val in values.items()}, self.state.step)

    def _resume(self) -> None:
        ckpt = latest_checkpoint(self.ckpt_root)
        if ckpt is None:
            return
        self.state = load_checkpoint(ckpt, self.acc.unwrap_model(self.model), self.optimizer, self.scheduler)

    # -- the loop -----------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> FitResult:
        from tqdm.auto import tqdm

        if self.acc.is_main_process:
            for note in clean_leftovers(self.ckpt_root):
                print(f"train: {self.ckpt_root}: {note} (left by an interrupted checkpoint)", flush=True)
        if resume:
            self._resume()
        st, cfg = self.state, self.cfg
        self.steps.start()
        self.model.train()  # from_pretrained returns eval mode; dropout belongs in training
        if self.acc.is_main_process:
            # a resumed run re-logs from the step after its checkpoint: events written after the checkpoint
            # (by the interrupted run) are purged, the checkpoint step's own point is kept
            purge = st.step + 1 if st.step else None
            self.trackers.start(reopen=resume, purge_step=purge)
        bar = tqdm(
            total=self.total_steps,
            initial=st.step,
            disable=not self.show_progress,
            unit="step",
            desc="train",
            dynamic_ncols=True,
        )
        last_metrics: dict[str, Any] | None = None
        window_loss, window_n, window_samples, window_t = 0.0, 0, 0, time.perf_counter()
        while st.step < self.total_steps and not st.stopped_early:
            batches = self.steps.batches(st.epoch)
            for idx in batches[st.batch_in_epoch :]:
                t0 = time.perf_counter()
                loss = self._train_step(idx)
                st.train_seconds += time.perf_counter() - t0
                st.step += 1
                st.batch_in_epoch += 1
                st.samples += len(idx) * self.acc.num_processes
                window_loss, window_n = window_loss + loss, window_n + 1
                window_samples += len(idx) * self.acc.num_processes
                bar.update(1)
                if window_n and st.step % cfg.log_every:  # the loss from the first step, not from log_every
                    bar.set_postfix(loss=f"{window_loss / window_n:.4f}", refresh=False)
                if st.step % cfg.log_every == 0 or st.step == self.total_steps:
                    now = time.perf_counter()
                    rate = window_samples / max(now - window_t, 1e-9)
                    rec = {
                        "step": st.step,
                        "epoch": st.epoch,
                        "samples": st.samples,
                        "loss": window_loss / window_n,
                        "lr": self.scheduler.get_last_lr()[0],
                        "samples_per_s": rate,
                    }
                    st.history.append(rec)
                    self._scalars("train", {k: rec[k] for k in ("loss", "lr", "samples_per_s")})
                    bar.set_postfix(loss=f"{rec['loss']:.4f}", samples_s=f"{rate:.0f}")
                    window_loss, window_n, window_samples, window_t = 0.0, 0, 0, now
                if cfg.eval_every and st.step % cfg.eval_every == 0:
                    last_metrics = self._eval_and_track()
                if st.step % cfg.save_every == 0 and st.step < self.total_steps and not st.stopped_early:
                    self._checkpoint()
                if st.step >= self.total_steps or st.stopped_early:
                    break
            else:
                st.epoch += 1
                st.batch_in_epoch = 0
                if not cfg.eval_every:
                    last_metrics = self._eval_and_track()
                if st.step < self.total_steps and not st.stopped_early:
                    self._checkpoint()
                continue
            break
        bar.close()
        if last_metrics is None or st.last_eval_step != st.step:
            last_metrics = self._eval_and_track()
        if cfg.early_stopping is not None and st.best_step is not None and st.best_step != st.step:
            load_weights(self.acc.unwrap_model(self.model), self.ckpt_root / "best" / "model.safetensors")
            last_metrics = self.evaluate()
        if self.own_trackers:
            self.trackers.finish()
        dp = self.steps.finish()
        return FitResult(st, last_metrics, self.precision, self.acc.num_processes, dp)

    def _checkpoint(self) -> None:
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            save_checkpoint(
                self.ckpt_root,
                self.acc.unwrap_model(self.model),
                self.optimizer,
                self.scheduler,
                self.state,
                encryption=self.ckpt_encryption,
            )
        self.acc.wait_for_everyone()

    def unwrapped(self) -> Any:
        return self.acc.unwrap_model(self.model)
