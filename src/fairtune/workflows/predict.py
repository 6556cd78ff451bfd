"""`fairtune predict`: labels and probabilities for texts, from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairtune._stages import register_stage


def predict(run_dir: str | Path, texts: list[str]) -> list[dict[str, Any]]:
    from fairtune.models import load_run_classifier

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


register_stage("predict", predict)
