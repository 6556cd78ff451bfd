"""`Classifier`: the one interface every auditor uses (texts in, probabilities out)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Classifier(Protocol):
    labels: list[str]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


class TorchClassifier:
    """A Hugging Face sequence classifier behind `predict_proba`, batched and length-sorted inside."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = 128,
        max_length: int = 128,
        precision: str = "auto",
    ) -> None:
        from fairtune.training import resolve_precision

        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.precision = resolve_precision(precision)
        cfg = model.config
        self.labels = [cfg.id2label[i] for i in range(cfg.num_labels)]

    @classmethod
    def from_dir(cls, model_dir: str | Path, **kwargs: Any) -> TorchClassifier:
        from fairtune.models._build import load_trained

        model, tokenizer = load_trained(model_dir)
        return cls(model, tokenizer, **kwargs)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        from fairtune.training import collate

        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return out
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        order = np.argsort([len(ids) for ids in enc], kind="stable")
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        pad = self.tokenizer.pad_token_id or 0
        try:
            with (
                torch.inference_mode(),
                torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"),
            ):
                for start in range(0, len(texts), self.batch_size):
                    idx = order[start : start + self.batch_size]
                    batch = collate(enc, idx.tolist(), None, pad)
                    logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits
                    out[idx] = logits.float().cpu().numpy()
        finally:
            self.model.train(was_training)
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.logits(texts))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]
