"""A trained run's model behind the `Classifier` interface."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fairtune._rundir import RunDir

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig
    from fairtune.models._classifier import TorchClassifier


def load_run_classifier(run_dir: str | Path) -> tuple[RunDir, FairtuneConfig, TorchClassifier]:
    """The trained model of a run behind the `Classifier` interface, with the run's eval settings."""
    from fairtune.models._classifier import TorchClassifier

    run = RunDir(Path(run_dir))
    model_dir = run.require_model()
    cfg = run.load_config()
    clf = TorchClassifier.from_dir(
        model_dir,
        batch_size=cfg.train.eval_batch_size,
        max_length=cfg.data.max_length,
        precision=cfg.train.precision,
        device=cfg.model.device,
    )
    return run, cfg, clf
