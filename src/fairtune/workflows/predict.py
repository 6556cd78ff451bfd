"""`fairtune predict`: labels and probabilities for texts, from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtune._rundir import RunDir

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig
    from fairtune.models import TorchClassifier


def load_run_classifier(run_dir: str | Path) -> tuple[RunDir, FairtuneConfig, TorchClassifier]:
    """The trained model of a run behind the `Classifier` interface, with the run's eval settings."""
    from fairtune.models import TorchClassifier

    run = RunDir(Path(run_dir))
    model_dir = run.require_model()
    cfg = run.load_config()
    clf = TorchClassifier.from_dir(
        model_dir,
        batch_size=cfg.train.eval_batch_size,
        max_length=cfg.data.max_length,
        precision=cfg.train.precision,
    )
    return run, cfg, clf


def predict(run_dir: str | Path, texts: list[str]) -> list[dict[str, Any]]:
    _, _, clf = load_run_classifier(run_dir)
    probs = clf.predict_proba(texts)
    return [
        {
            "text": text,
            "label": clf.labels[int(p.argmax())],
            "probability": float(p.max()),
            "probabilities": {name: float(v) for name, v in zip(clf.labels, p, strict=True)},
        }
        for text, p in zip(texts, probs, strict=True)
    ]
