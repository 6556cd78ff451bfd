"""Evaluation metrics over predicted probabilities."""

from fairtune.evaluation._metrics import (
    classification_metrics,
    cross_entropy,
    expected_calibration_error,
    reliability_bins,
)

__all__ = ["classification_metrics", "cross_entropy", "expected_calibration_error", "reliability_bins"]
