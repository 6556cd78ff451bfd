"""Experiment trackers (`train.report_to`): TensorBoard, Weights & Biases, MLflow, behind one interface."""

from fairtune.tracking._session import (
    Trackers,
    config_params,
    final_metrics,
    publish_run,
    run_trackers,
    trackers_for,
)
from fairtune.tracking._trackers import TRACKERS, Tracker

__all__ = [
    "TRACKERS",
    "Tracker",
    "Trackers",
    "config_params",
    "final_metrics",
    "publish_run",
    "run_trackers",
    "trackers_for",
]
