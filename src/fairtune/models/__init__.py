"""Models: resolve names, build (full or LoRA), save/load, and the `Classifier` interface."""

from fairtune.models._build import build_classifier, is_peft, load_trained, save_model
from fairtune.models._classifier import Classifier, TorchClassifier, softmax
from fairtune.models._pooling import BertForMeanPooledSequenceClassification, classifier_class
from fairtune.models._resolve import load_pretrained, packaged_minilm_path, resolve_model

__all__ = [
    "BertForMeanPooledSequenceClassification",
    "Classifier",
    "TorchClassifier",
    "build_classifier",
    "classifier_class",
    "is_peft",
    "load_pretrained",
    "load_trained",
    "packaged_minilm_path",
    "resolve_model",
    "save_model",
    "softmax",
]
