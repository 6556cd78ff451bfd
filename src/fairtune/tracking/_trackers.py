"""One small object per experiment tracker, all behind `Tracker`'s interface.

Each wraps Accelerate's tracker (`accelerate.tracking`): `TensorBoardTracker`, `WandBTracker` and
`MLflowTracker` open, log numbers and close the runs. Where Accelerate's wrapper has no call for it, the
library is used directly: W&B's summary and Artifact (text values, the report), MLflow's tags.
Nothing goes over the network unless the user's environment asks for it: W&B runs offline and MLflow
writes a local store inside the run directory, unless WANDB_MODE/WANDB_DIR or MLFLOW_TRACKING_URI say
otherwise, and neither library's own telemetry or crash reporting is on unless the user turned it on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class Tracker:
    """A tracker's run for one run directory. `start` opens it (or reopens the run `run_id` names);
    the others log into it. `inner` is the Accelerate tracker."""

    name = ""
    inner: Any

    def __init__(self, run_root: Path) -> None:
        self.run_root = run_root

    def start(self, run_id: str | None, purge_step: int | None) -> str | None:
        """Open the run; return the id that reopens it (None: nothing to reopen)."""
        raise NotImplementedError

    def params(self, values: dict[str, Any]) -> None:
        self.inner.store_init_configuration(values)

    def log(self, values: dict[str, float], step: int) -> None:
        self.inner.log(values, step=step)

    def tags(self, values: dict[str, str], step: int) -> None:
        self.inner.log(values, step=step)

    def artifact(self, path: Path) -> None:
        """Keep the file `path` with the run."""

    def finish(self) -> None:
        self.inner.finish()


class TensorBoardTracker(Tracker):
    """TensorBoard event files in the run's events/ (Accelerate's `TensorBoardTracker`). Text values are
    text summaries; files are not kept (the report stays in the run directory)."""

    name = "tensorboard"

    def start(self, run_id: str | None, purge_step: int | None) -> str | None:
        from accelerate.tracking import TensorBoardTracker as Inner

        # An empty run name puts the event files in events/ itself, where they always were. A resumed
        # run purges what the interrupted one wrote after its checkpoint.
        self.inner = Inner("", str(self.run_root / "events"), purge_step=purge_step)
        self.inner.start()
        return None

    def params(self, values: dict[str, Any]) -> None:
        """Not logged: config.yaml holds them, and add_hparams would write a second events folder."""


class WandbTracker(Tracker):
    """A W&B run (Accelerate's `WandBTracker`), offline in <run>/wandb/ unless WANDB_MODE or WANDB_DIR
    say otherwise; `wandb sync <run>/wandb/offline-run-*` uploads it later. Reopened by its id (each
    reopening is one more offline folder of the same run). Text values go into the run summary and files
    into W&B Artifacts, through the `wandb` run itself."""

    name = "wandb"

    def start(self, run_id: str | None, purge_step: int | None) -> str | None:
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")  # W&B's crash reports go over the network
        import wandb
        from accelerate.tracking import WandBTracker as Inner

        kwargs: dict[str, Any] = {"name": self.run_root.name, "id": run_id, "resume": "allow"}
        # stdout and stderr stay fairtune's; W&B says where the run is and how to sync it, not its numbers
        kwargs["settings"] = wandb.Settings(console="off", quiet=True)
        if "WANDB_MODE" not in os.environ:
            kwargs["mode"] = "offline"
        if "WANDB_DIR" not in os.environ:
            kwargs["dir"] = str(self.run_root)
        self.inner = Inner(os.environ.get("WANDB_PROJECT", "fairtune"), **kwargs)
        self.inner.start()
        return str(self.inner.run.id)

    def tags(self, values: dict[str, str], step: int) -> None:
        self.inner.run.summary.update(values)

    def artifact(self, path: Path) -> None:
        import wandb

        artifact = wandb.Artifact(f"{self.run_root.name}-{path.stem}", type=path.stem)
        artifact.add_file(str(path))
        self.inner.run.log_artifact(artifact)


class MlflowTracker(Tracker):
    """An MLflow run (Accelerate's `MLflowTracker`) in experiment `fairtune` (or $MLFLOW_EXPERIMENT_NAME).
    The store is <run>/mlflow.db (SQLite: MLflow 3 refuses its file store unless told to allow it) with
    artifacts in <run>/mlartifacts/, unless MLFLOW_TRACKING_URI names another. Text values are run tags."""

    name = "mlflow"

    def start(self, run_id: str | None, purge_step: int | None) -> str | None:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # read when mlflow is imported
        import mlflow
        from accelerate.tracking import MLflowTracker as Inner

        user_uri = os.environ.get("MLFLOW_TRACKING_URI")
        root = self.run_root.resolve()
        mlflow.set_tracking_uri(user_uri or f"sqlite:///{root / 'mlflow.db'}")
        artifacts = None if user_uri else (root / "mlartifacts").as_uri()
        self.inner = Inner("fairtune", artifacts, run_id=run_id, run_name=self.run_root.name)
        self.inner.start()
        return str(self.inner.active_run.info.run_id)

    def tags(self, values: dict[str, str], step: int) -> None:
        import mlflow

        mlflow.set_tags(values)

    def artifact(self, path: Path) -> None:
        self.inner.log_artifact(str(path))


TRACKERS: dict[str, type[Tracker]] = {t.name: t for t in (TensorBoardTracker, WandbTracker, MlflowTracker)}
