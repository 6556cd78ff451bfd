"""Any model behind the `Classifier` interface (texts in, probabilities out), so every auditor runs on it.

`classifier(model)` accepts a fairtune run or model folder, a Hugging Face folder or hub id, a
scikit-learn estimator saved with skops (`.skops`), a
`transformers` text-classification pipeline (all three become a white-box `TorchClassifier`: gradient
methods work), an object with `predict_proba(texts)` such as a scikit-learn text pipeline, or a callable
texts -> probabilities; an HTTP service comes through `endpoint(...)` (`_endpoint.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fairtune.errors import (
    ADAPTER_BAD_OUTPUT,
    ADAPTER_NEEDS_LABELS,
    ADAPTER_UNKNOWN_KIND,
    MODEL_NOT_A_CLASSIFIER_FOLDER,
    SKOPS_UNTRUSTED,
    FairtuneError,
)
from fairtune.models._classifier import Classifier


def checked_probabilities(raw: Any, n_texts: int, labels: list[str], source: str) -> np.ndarray:
    """`raw` as an (n_texts, n_labels) float array of rows that sum to 1, or an error naming `source`."""
    probs = np.asarray(raw, dtype=np.float64)
    if probs.shape != (n_texts, len(labels)):
        raise FairtuneError(
            ADAPTER_BAD_OUTPUT.format(
                source=source, got=f"shape {probs.shape}", want=f"({n_texts}, {len(labels)})", labels=labels
            )
        )
    if (
        not np.isfinite(probs).all()
        or (probs < 0).any()
        or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    ):
        raise FairtuneError(
            ADAPTER_BAD_OUTPUT.format(
                source=source,
                got="rows that are not probabilities",
                want="rows >= 0 summing to 1",
                labels=labels,
            )
        )
    return probs


def in_batches(
    texts: Sequence[str], batch_size: int, labels: list[str], source: str, call: Callable[[list[str]], Any]
) -> np.ndarray:
    """`call` over `texts` in batches of `batch_size`, each answer checked (`checked_probabilities`)."""
    texts = [str(t) for t in texts]
    out = [np.zeros((0, len(labels)))]
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        out.append(checked_probabilities(call(chunk), len(chunk), labels, source))
    return np.concatenate(out)


class ProbaClassifier:
    """An estimator with `predict_proba(texts)`, e.g. a scikit-learn TF-IDF + logistic regression pipeline.
    Labels: `labels`, else the estimator's `classes_`. Black-box: predictions only."""

    def __init__(self, estimator: Any, labels: Sequence[str] | None = None) -> None:
        classes = getattr(estimator, "classes_", None)
        names = (
            list(labels) if labels is not None else [str(c) for c in classes] if classes is not None else []
        )
        if not names:
            raise FairtuneError(ADAPTER_NEEDS_LABELS.format(kind=type(estimator).__name__))
        self.estimator = estimator
        self.labels = names

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(self.labels)))
        raw = self.estimator.predict_proba(texts)
        return checked_probabilities(
            raw, len(texts), self.labels, f"{type(self.estimator).__name__}.predict_proba"
        )


class CallableClassifier:
    """A function texts -> probabilities (one row per text, columns in `labels` order). Black-box."""

    def __init__(self, fn: Callable[[list[str]], Any], labels: Sequence[str], batch_size: int = 64) -> None:
        self.fn = fn
        self.labels = list(labels)
        self.batch_size = batch_size

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return in_batches(texts, self.batch_size, self.labels, getattr(self.fn, "__name__", "fn"), self.fn)


def from_skops(path: Path, labels: Sequence[str] | None = None) -> ProbaClassifier:
    """A scikit-learn estimator saved with skops (`skops.io.dump`), scikit-learn's secure format: only
    types skops trusts are loaded; any other is refused by name, never run (no pickle)."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    if untrusted:
        raise FairtuneError(SKOPS_UNTRUSTED.format(path=path, types=", ".join(untrusted)))
    return ProbaClassifier(sio.load(path, trusted=[]), labels)


def _from_path(
    target: str | os.PathLike[str], labels: Sequence[str] | None = None, **kwargs: Any
) -> Classifier:
    from fairtune.models._classifier import TorchClassifier
    from fairtune.models._resolve import HUB_ID

    path = Path(target)
    if path.suffix == ".skops" and path.is_file():
        return from_skops(path, labels)
    if (path / "config.yaml").is_file() and (path / "model").is_dir():
        from fairtune.models._run import load_run_classifier

        return load_run_classifier(path)[2]
    if path.is_dir() and not (path / "config.json").is_file():
        raise FairtuneError(MODEL_NOT_A_CLASSIFIER_FOLDER.format(path=path))
    if path.is_dir() or HUB_ID.match(str(target)):
        return TorchClassifier.from_dir(str(target), **kwargs)
    from fairtune.models._resolve import resolve_model

    resolve_model(str(target))  # raises the error that says what is wrong with the path
    raise FairtuneError(MODEL_NOT_A_CLASSIFIER_FOLDER.format(path=path))


def _is_pipeline(model: Any) -> bool:
    return hasattr(model, "task") and hasattr(model, "model") and hasattr(model, "tokenizer")


def classifier(
    model: Any,
    *,
    labels: Sequence[str] | None = None,
    batch_size: int = 64,
    max_length: int = 128,
    precision: str = "auto",
    device: str | None = None,
) -> Classifier:
    """`model` behind the `Classifier` interface; see the module's docstring for what it accepts."""
    if isinstance(model, str | os.PathLike):
        return _from_path(
            model, batch_size=batch_size, max_length=max_length, precision=precision, device=device
        )
    if _is_pipeline(model):
        from fairtune.models._classifier import TorchClassifier

        return TorchClassifier(
            model.model,
            model.tokenizer,
            batch_size=batch_size,
            max_length=max_length,
            precision=precision,
            device=device,
        )
    if isinstance(getattr(model, "labels", None), list) and callable(getattr(model, "predict_proba", None)):
        return model  # type: ignore[no-any-return]  # already a Classifier
    if callable(getattr(model, "predict_proba", None)):
        return ProbaClassifier(model, labels)
    if callable(model):
        if labels is None:
            raise FairtuneError(ADAPTER_NEEDS_LABELS.format(kind="function"))
        return CallableClassifier(model, labels, batch_size)
    raise FairtuneError(ADAPTER_UNKNOWN_KIND.format(kind=type(model).__name__))
