"""`fairtune predict`: labels and probabilities for texts, from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairtune._rundir import RunDir


def predict(run_dir: str | Path, texts: list[str]) -> list[dict[str, Any]]:
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
