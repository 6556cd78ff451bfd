"""Classification metrics: accuracy, macro-F1, per-class precision/recall, confusion matrix, ECE."""

from __future__ import annotations

from typing import Any

import numpy as np


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, *, n_bins: int = 15) -> float:
    """ECE with equal-width confidence bins (Guo et al. 2017): sum_b |B|/n * |acc(B) - conf(B)|."""
    n = len(y_true)
    total = 0.0
    for b in reliability_bins(y_true, probs, n_bins=n_bins):
        if b["count"] and b["accuracy"] is not None and b["confidence"] is not None:
            total += b["count"] / n * abs(b["accuracy"] - b["confidence"])
    return total


def reliability_bins(
    y_true: np.ndarray, probs: np.ndarray, *, n_bins: int = 15
) -> list[dict[str, float | None]]:
    """Per-bin confidence, accuracy and count, for a reliability diagram."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = bins == b
        out.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "count": int(sel.sum()),
                "confidence": float(conf[sel].mean()) if sel.any() else None,
                "accuracy": float(correct[sel].mean()) if sel.any() else None,
            }
        )
    return out


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, label_names: list[str], *, loss: float | None = None
) -> dict[str, Any]:
    """All evaluation numbers for one split, as a JSON-ready dict."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    y_true = np.asarray(y_true)
    y_pred = probs.argmax(axis=1)
    labels = list(range(len(label_names)))
    prec, rec, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = {
        name: {
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(label_names)
    }
    out: dict[str, Any] = {
        "n": len(y_true),
        "accuracy": float((y_pred == y_true).mean()),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "ece": expected_calibration_error(y_true, probs, n_bins=15),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "labels": list(label_names),
        "reliability": reliability_bins(y_true, probs, n_bins=15),
    }
    if loss is not None:
        out["loss"] = float(loss)
    return out


def cross_entropy(y_true: np.ndarray, logits: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y_true)), y_true].mean())
