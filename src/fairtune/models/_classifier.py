"""`Classifier`: the one interface every auditor uses (texts in, probabilities out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fairtune.models._modes import eval_mode


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
        device: str | None = None,
        front_end: Callable[[Sequence[str]], list[str]] | None = None,
    ) -> None:
        """`front_end` rewrites the texts before the tokenizer reads them (the word-recognition front end
        of `_recognition.py`; `from_dir` loads the model folder's own)."""
        from fairtune.models._device import resolve_device
        from fairtune.training import resolve_precision

        self.device = resolve_device(device)
        if next(model.parameters()).device.type != self.device.split(":")[0]:
            model = model.to(self.device)
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.front_end = front_end
        self.precision = resolve_precision(precision, self.device)
        cfg = model.config
        self.labels = [cfg.id2label[i] for i in range(cfg.num_labels)]

    @classmethod
    def from_dir(cls, model_dir: str | Path, **kwargs: Any) -> TorchClassifier:
        from fairtune.models._build import load_trained
        from fairtune.models._recognition import load_recognizer

        model, tokenizer = load_trained(model_dir)
        return cls(model, tokenizer, **{"front_end": load_recognizer(model_dir), **kwargs})

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        device = next(self.model.parameters()).device

        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
            logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits
            return logits.float().cpu().numpy()  # type: ignore[no-any-return]

        if self.front_end is not None:
            texts = self.front_end(texts)
        with (
            eval_mode(self.model),
            torch.inference_mode(),
            torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"),
        ):
            return batched_by_length(
                self.tokenizer, texts, self.max_length, self.batch_size, len(self.labels), run
            )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.logits(texts))


def batched_by_length(
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    batch_size: int,
    n_labels: int,
    run: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Tokenize once, sort by length, and call `run(input_ids, attention_mask)` (int64 arrays padded to
    each batch's longest text) batch by batch; return the logits in the texts' order."""
    texts = [str(t) for t in texts]
    out = np.zeros((len(texts), n_labels), dtype=np.float32)
    if not texts:
        return out
    enc = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(ids) for ids in enc], kind="stable")
    pad = tokenizer.pad_token_id or 0
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(enc[i]) for i in idx)
        ids = np.full((len(idx), width), pad, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            ids[row, : len(enc[i])] = enc[i]
            mask[row, : len(enc[i])] = 1
        out[idx] = run(ids, mask)
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]
