"""Training components: batching, precision, checkpoints, and the fine-tuning loop."""

from fairtune.training._batching import collate, epoch_batches, tokenize
from fairtune.training._checkpoint import TrainState, latest_checkpoint
from fairtune.training._loop import FitResult, Trainer, evaluate_model, make_optimizer
from fairtune.training._precision import cpu_has_native_bf16, resolve_precision

__all__ = [
    "FitResult",
    "TrainState",
    "Trainer",
    "collate",
    "cpu_has_native_bf16",
    "epoch_batches",
    "evaluate_model",
    "latest_checkpoint",
    "make_optimizer",
    "resolve_precision",
    "tokenize",
]
