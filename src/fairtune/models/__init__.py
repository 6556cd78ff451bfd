"""Models: resolve names, build (full or LoRA), save/load, the `Classifier` interface, a run's model.

Names load on first use (PEP 562), so `from fairtune.models import resolve_model` or `Classifier` does
not import torch and transformers: a usage error about a model path is reported in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fairtune.models._classifier import Classifier, softmax
from fairtune.models._recognition import FILE as RECOGNIZER_FILE
from fairtune.models._resolve import load_pretrained, packaged_minilm_path, resolve_model

if TYPE_CHECKING:
    from fairtune.models._adapters import CallableClassifier, ProbaClassifier, classifier
    from fairtune.models._build import build_classifier, is_peft, load_trained, save_model
    from fairtune.models._classifier import TorchClassifier
    from fairtune.models._endpoint import EndpointClassifier, endpoint
    from fairtune.models._modes import eval_mode
    from fairtune.models._pooling import BertForMeanPooledSequenceClassification, classifier_class
    from fairtune.models._recognition import (
        WordRecognizer,
        build_recognizer,
        load_recognizer,
        tokenizer_words,
    )
    from fairtune.models._run import load_run_classifier

#: name -> the module that defines it, imported when the name is first used
_LAZY = {
    "build_classifier": "_build",
    "is_peft": "_build",
    "load_trained": "_build",
    "save_model": "_build",
    "TorchClassifier": "_classifier",
    "eval_mode": "_modes",
    "BertForMeanPooledSequenceClassification": "_pooling",
    "classifier_class": "_pooling",
    "load_run_classifier": "_run",
    "WordRecognizer": "_recognition",
    "load_recognizer": "_recognition",
    "build_recognizer": "_recognition",
    "tokenizer_words": "_recognition",
    "classifier": "_adapters",
    "CallableClassifier": "_adapters",
    "ProbaClassifier": "_adapters",
    "endpoint": "_endpoint",
    "EndpointClassifier": "_endpoint",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"fairtune.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'fairtune.models' has no attribute {name!r}")


__all__ = [
    "RECOGNIZER_FILE",
    "BertForMeanPooledSequenceClassification",
    "CallableClassifier",
    "Classifier",
    "EndpointClassifier",
    "ProbaClassifier",
    "TorchClassifier",
    "WordRecognizer",
    "build_classifier",
    "build_recognizer",
    "classifier",
    "classifier_class",
    "endpoint",
    "eval_mode",
    "is_peft",
    "load_pretrained",
    "load_recognizer",
    "load_run_classifier",
    "load_trained",
    "packaged_minilm_path",
    "resolve_model",
    "save_model",
    "softmax",
    "tokenizer_words",
]
