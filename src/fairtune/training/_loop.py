"""The fine-tuning loop: AdamW + linear warmup/decay, clipping, early stopping, checkpoints, resume.

Device placement, DDP and autocast go through Hugging Face Accelerate, so the same code runs
under `accelerate launch` / `torchrun`. Batches are a pure function of (seed, epoch), so a resumed
run skips exactly the batches it already saw and ends with the same weights.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fairtune.config import TrainConfig
from fairtune.data import TaskData
from fairtune.errors import ConfigError
from fairtune.evaluation import classification_metrics, cross_entropy
from fairtune.training._batching import collate, epoch_batches, tokenize
from fairtune.training._checkpoint import (
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from fairtune.training._frozen import FrozenBottomCache, cacheable
from fairtune.training._precision import resolve_precision
from fairtune.training._privacy import (
    DpEngine,
    epsilon_spent,
    length_pieces,
    model_forward_ids,
    plan_privacy,
    poisson_batch,
)

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


def _opacus_version() -> str:
    from importlib.metadata import version

    return version("opacus")


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
        pair_texts: dict[int, str] | None = None,
        pair_lambda: float = 0.0,
        teacher: Any = None,
        distill_weight: float = 0.5,
        distill_temperature: float = 2.0,
    ) -> None:
        """`pair_texts` maps a training index to its counterfactual partner: with `pair_lambda` > 0,
        counterfactual logit pairing (Garg et al. 2019) adds pair_lambda * mean |logits(x) - logits(x')|.

        With a `teacher` (a classifier with the same labels, e.g. the model before pruning), the loss is
        knowledge distillation (Hinton et al. 2015): (1 - w) * cross-entropy + w * T² * KL(teacher's
        softened probabilities || the model's), w = `distill_weight`, T = `distill_temperature`."""
        from accelerate import Accelerator

        self.cfg, self.data, self.seed, self.max_length = cfg, data, seed, max_length
        self.run_dir = run_dir
        self.ckpt_root = run_dir / "checkpoints"
        self.precision = resolve_precision(cfg.precision)
        cpu = not torch.cuda.is_available()
        mixed = "bf16" if self.precision == "bf16" else "no"
        _forget_other_precision(mixed)
        self.acc = Accelerator(cpu=cpu, mixed_precision=mixed)
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id or 0
        self.encoded = tokenize(tokenizer, data.train.texts, max_length)
        self.lengths = [len(e) for e in self.encoded]
        self.pair_lambda = pair_lambda if pair_texts else 0.0
        self.pair_index: dict[int, int] = {}
        self.pair_encoded: list[list[int]] = []
        if pair_texts and pair_lambda > 0:
            keys = sorted(pair_texts)
            self.pair_encoded = tokenize(tokenizer, [pair_texts[k] for k in keys], max_length)
            self.pair_index = {k: j for j, k in enumerate(keys)}
        world = self.acc.num_processes
        self.steps_per_epoch, self.total_steps = schedule(cfg, len(self.encoded), world)
        self.model_raw = model
        if teacher is not None and cfg.privacy is not None:
            raise ConfigError(["train.privacy: distillation from a teacher is not part of DP training."])
        self.teacher = teacher.eval().to(self.acc.device) if teacher is not None else None
        self.distill_weight, self.distill_temperature = distill_weight, distill_temperature
        if cfg.privacy is not None and cfg.privacy.freeze_embeddings:
            freeze_embeddings(model)
        if cfg.privacy is not None and cfg.privacy.bias_only:
            train_only_biases(model)
        self.frozen: FrozenBottomCache | None = None
        self.frozen_info: dict[str, Any] | None = None
        if cfg.privacy is not None and cfg.privacy.trainable_layers is not None:
            train_only_top(model, cfg.privacy.trainable_layers)
            why_not = cacheable(model, cfg.privacy.trainable_layers) if cfg.privacy.cache_frozen else "off"
            if why_not is None:
                self.frozen = FrozenBottomCache(model, cfg.privacy.trainable_layers)
            else:
                self.frozen_info = {"used": False, "why": why_not}
        optimizer = make_optimizer(model, cfg)
        from transformers import get_linear_schedule_with_warmup

        self.scheduler = get_linear_schedule_with_warmup(
            optimizer, int(cfg.warmup_ratio * self.total_steps), self.total_steps
        )
        self.dp: DpEngine | None = None
        if cfg.privacy is not None:
            if world > 1:
                raise ConfigError(
                    ["train.privacy: DP training runs in one process; launch it without accelerate/torchrun."]
                )
            plan = plan_privacy(
                cfg.privacy, n=len(self.encoded), batch_size=cfg.batch_size, steps=self.total_steps
            )
            self.model = self.acc.prepare(model)
            self.dp = DpEngine(self.model, optimizer, plan)
            self.optimizer = self.dp.optimizer
            self.explicit_ids = model_forward_ids(model, tokenizer)
        else:
            self.model, self.optimizer = self.acc.prepare(model, optimizer)
        self.show_progress = show_progress and self.acc.is_main_process
        self.state = TrainState()
        self.writer: Any = None

    # -- pieces -------------------------------------------------------------------------------
    def _my_batches(self, epoch: int) -> list[list[int]]:
        if self.dp is not None:  # Poisson sampling: a pure function of (seed, step)
            first = epoch * self.steps_per_epoch
            return [
                poisson_batch(len(self.encoded), self.dp.plan.sample_rate, seed=self.seed, step=first + b)
                for b in range(self.steps_per_epoch)
            ]
        batches = epoch_batches(
            self.lengths,
            self.cfg.batch_size,
            seed=self.seed,
            epoch=epoch,
            group_by_length=self.cfg.length_grouping,
        )
        world, rank = self.acc.num_processes, self.acc.process_index
        return batches[rank::world][: self.steps_per_epoch]

    def _dp_step(self, idx: list[int]) -> float:
        """One DP-SGD step: clip each text's gradient piece by piece, then one noisy AdamW step."""
        assert self.dp is not None
        total = 0.0
        pieces = length_pieces(idx, self.lengths, self.dp_physical_batch)
        if not pieces:
            self.dp.empty_step()
        positions, token_types = self.explicit_ids
        for k, piece in enumerate(pieces):
            batch = collate(self.encoded, piece, self.data.train.labels, self.pad_id)
            labels = batch.pop("labels").to(self.acc.device)
            ids = batch["input_ids"]
            if positions:  # explicit, contiguous, per-example ids: Opacus needs them (NOTES-DEPS)
                batch["position_ids"] = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids).contiguous()
            if token_types:
                batch["token_type_ids"] = torch.zeros_like(ids)
            batch = {k2: v.to(self.acc.device) for k2, v in batch.items()}
            with self.acc.autocast(), self.frozen.top_only(piece) if self.frozen else nullcontext():
                logits = self.model(**batch).logits
            total += self.dp.backward_piece(logits, labels, last=k == len(pieces) - 1)
        self.dp.step()
        self.scheduler.step()
        return total / max(len(idx), 1)

    @property
    def dp_physical_batch(self) -> int:
        assert self.cfg.privacy is not None
        return self.cfg.privacy.physical_batch_size

    def _train_step(self, idx: list[int]) -> float:
        if self.dp is not None:
            return self._dp_step(idx)
        batch = collate(self.encoded, idx, self.data.train.labels, self.pad_id)
        batch = {k: v.to(self.acc.device) for k, v in batch.items()}
        adv = self.cfg.adversarial
        delta = None
        with self.acc.autocast():
            if adv is not None:
                embeds = self.acc.unwrap_model(self.model).get_input_embeddings()(batch["input_ids"])
                delta = torch.zeros_like(embeds, requires_grad=True)
                rest = {k: v for k, v in batch.items() if k != "input_ids"}
                out = self.model(inputs_embeds=embeds + delta, **rest)
            else:
                out = self.model(**batch)
            loss = out.loss
            paired = [(row, self.pair_index[i]) for row, i in enumerate(idx) if i in self.pair_index]
            if paired:
                cf = collate(self.pair_encoded, [j for _, j in paired], None, self.pad_id)
                cf_logits = self.model(**{k: v.to(self.acc.device) for k, v in cf.items()}).logits
                rows = torch.as_tensor([r for r, _ in paired], device=self.acc.device)
                loss = loss + self.pair_lambda * (out.logits[rows] - cf_logits).abs().mean()
            if self.teacher is not None:
                loss = self._distilled(loss, out.logits, batch)
        if adv is not None and delta is not None:
            (grad,) = torch.autograd.grad(loss, delta, retain_graph=True)
            self.acc.backward(loss)
            loss = loss.detach() + adv.weight * self._adversarial_loss(batch, grad)
        else:
            self.acc.backward(loss)
        if self.cfg.max_grad_norm:
            self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def _distilled(
        self, ce: torch.Tensor, logits: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        assert self.teacher is not None
        t, w = self.distill_temperature, self.distill_weight
        with torch.no_grad():
            target = self.teacher(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()
        kl = torch.nn.functional.kl_div(
            torch.log_softmax(logits.float() / t, dim=-1),
            torch.log_softmax(target / t, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        return (1 - w) * ce + w * t * t * kl

    def _adversarial_loss(self, batch: dict[str, torch.Tensor], grad: torch.Tensor) -> torch.Tensor:
        """FGM / PGD on the input embeddings: step along the normalised gradient, project each example's
        perturbation onto the L2 ball of radius epsilon, and backpropagate the loss at the last point."""
        adv = self.cfg.adversarial
        assert adv is not None
        steps = 1 if adv.method == "fgm" else adv.steps
        emb_layer = self.acc.unwrap_model(self.model).get_input_embeddings()
        rest = {k: v for k, v in batch.items() if k != "input_ids"}
        delta = torch.zeros_like(grad)

        def norm(t: torch.Tensor) -> torch.Tensor:
            return t.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *([1] * (t.dim() - 1)))

        # epsilon is relative to each example's own embedding norm, so it means the same for any model
        with torch.no_grad():
            radius = adv.epsilon * norm(emb_layer(batch["input_ids"]).float())
        alpha = radius if adv.method == "fgm" else radius * ((adv.alpha or adv.epsilon / 2) / adv.epsilon)

        for k in range(steps):
            delta = delta + alpha * grad / norm(grad)
            delta = delta * torch.clamp(radius / norm(delta), max=1.0)
            delta = delta.detach().requires_grad_(k < steps - 1)
            with self.acc.autocast():
                adv_loss = self.model(inputs_embeds=emb_layer(batch["input_ids"]) + delta, **rest).loss
            if k < steps - 1:
                (grad,) = torch.autograd.grad(adv_loss, delta)
        self.acc.backward(adv.weight * adv_loss)
        return adv_loss.detach()

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
                save_weights(self.acc.unwrap_model(self.model), self.ckpt_root / "best" / "model.safetensors")
        else:
            st.bad_evals += 1
            if es is not None and st.bad_evals >= es.patience:
                st.stopped_early = True
        return metrics

    def _scalars(self, prefix: str, values: dict[str, float]) -> None:
        if self.writer is not None:
            for key, val in values.items():
                self.writer.add_scalar(f"{prefix}/{key}", val, self.state.step)

    def _resume(self) -> None:
        ckpt = latest_checkpoint(self.ckpt_root)
        if ckpt is None:
            return
        self.state = load_checkpoint(ckpt, self.acc.unwrap_model(self.model), self.optimizer, self.scheduler)

    # -- the loop -----------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> FitResult:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm.auto import tqdm

        if resume:
            self._resume()
        st, cfg = self.state, self.cfg
        if self.frozen is not None and not self.frozen.states:
            self._build_frozen_cache()
        self.model.train()  # from_pretrained returns eval mode; dropout belongs in training
        if self.acc.is_main_process:
            self.writer = SummaryWriter(log_dir=str(self.run_dir / "events"), purge_step=st.step or None)
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
            batches = self._my_batches(st.epoch)
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
        if self.writer is not None:
            self.writer.close()
        dp = None
        if self.dp is not None:
            self.dp.cleanup()
            plan = self.dp.plan
            dp = {
                **plan.to_dict(),
                "epsilon_spent": epsilon_spent(
                    plan.accountant, plan.noise_multiplier, plan.sample_rate, st.step, plan.delta
                ),
                "steps_taken": st.step,
                "noised_parameters": sum(p.numel() for p in self.dp.params),
                "sampling": "poisson",
                "library": f"opacus {_opacus_version()}",
            }
            if self.frozen_info is not None:
                dp["frozen_cache"] = self.frozen_info
        return FitResult(st, last_metrics, self.precision, self.acc.num_processes, dp)

    def _build_frozen_cache(self) -> None:
        """Run the frozen layers over every training text once; the time counts as training time."""
        from tqdm.auto import tqdm

        assert self.frozen is not None
        t0 = time.perf_counter()
        with tqdm(
            total=len(self.encoded), disable=not self.show_progress, unit="text", desc="frozen layers, once"
        ) as bar:
            self.frozen.build(
                self.acc.unwrap_model(self.model),
                self.encoded,
                self.pad_id,
                batch_size=self.cfg.eval_batch_size,
                progress=bar.update,
            )
        seconds = time.perf_counter() - t0
        self.state.train_seconds += seconds
        self.frozen_info = {"used": True, "layers_cached": self.frozen.first, "seconds": seconds}

    def _checkpoint(self) -> None:
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            save_checkpoint(
                self.ckpt_root, self.acc.unwrap_model(self.model), self.optimizer, self.scheduler, self.state
            )
        self.acc.wait_for_everyone()

    def unwrapped(self) -> Any:
        return self.acc.unwrap_model(self.model)
