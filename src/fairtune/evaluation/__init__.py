"""Evaluation metrics over predicted probabilities."""

from fairtune.evaluation._metrics import (
    classification_metrics,
    cross_entropy,
    expected_calibration_error,
    reliability_bins,
)
from fairtune.evaluation._seeds import NOISE, ONE_SEED, compare_seeds, difference_ci, mean_ci, verdict

__all__ = [
    "NOISE",
    "ONE_SEED",
    "classification_metrics",
    "compare_seeds",
    "cross_entropy",
    "difference_ci",
    "expected_calibration_error",
    "mean_ci",
    "reliability_bins",
    "verdict",
]
