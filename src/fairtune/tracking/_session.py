"""The trackers of one run, chosen once from `train.report_to`, and what goes into them when.

Training logs its curves (`train/loss`, `train/lr`, `train/samples_per_s`, `eval/<metric>` per
evaluation) and then metrics.json's numbers (`eval.<metric>`, `train.<key>`). At the end of `fairtune
run`, after the audits and gates, `publish_run` adds every audit metric (`<auditor>/<metric>`, and the
data card's as `data/<metric>`), each gate's status (`gates/<metric>`: pass, fail or not run) with
`gates/passed` (1 or 0), and report.html as an artifact. Each tracker's run id is kept in
<run>/trackers.json, so a resumed training and the end of `fairtune run` log into the same runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json, read_json
from fairtune.config import FairtuneConfig, config_to_dict
from fairtune.tracking._trackers import TRACKERS, Tracker

RECORD = "trackers.json"


class Trackers:
    """The trackers one run logs to, used together. Until `start` (which only the main process calls)
    every call is a no-op."""

    def __init__(self, trackers: list[Tracker], run_root: Path, params: dict[str, Any] | None = None):
        self.trackers, self.run_root, self.params = trackers, run_root, params
        self.active: list[Tracker] = []

    def start(self, *, reopen: bool, purge_step: int | None = None) -> None:
        """Open each tracker's run: with `reopen`, the one trackers.json names (a new one where none is
        recorded), else a new one. A new run gets the config as its parameters."""
        record = self.run_root / RECORD
        ids = read_json(record) if reopen and record.is_file() else {}
        for tracker in self.trackers:
            run_id = tracker.start(ids.get(tracker.name), purge_step)
            if self.params and ids.get(tracker.name) is None:
                tracker.params(self.params)
            if run_id is not None:
                ids[tracker.name] = run_id
            self.active.append(tracker)
        if ids:
            atomic_write_json(record, ids)

    def log(self, values: dict[str, float], step: int) -> None:
        for tracker in self.active:
            tracker.log(values, step)

    def tags(self, values: dict[str, str], step: int) -> None:
        for tracker in self.active:
            tracker.tags(values, step)

    def artifact(self, path: Path) -> None:
        for tracker in self.active:
            tracker.artifact(path)

    def finish(self) -> None:
        for tracker in self.active:
            tracker.finish()
        self.active = []


def trackers_for(names: list[str], run_root: Path, params: dict[str, Any] | None = None) -> Trackers:
    """The trackers `names` (train.report_to's values) for the run in `run_root`, not yet started."""
    return Trackers([TRACKERS[name](run_root) for name in names], run_root, params)


def config_params(cfg: FairtuneConfig) -> dict[str, Any]:
    """The config as dotted keys (`train.lr`), unset options left out."""
    out: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif value is not None:
                out[prefix + key] = value

    walk(config_to_dict(cfg), "")
    return out


def run_trackers(cfg: FairtuneConfig, run_root: Path) -> Trackers:
    """The trackers `cfg.train.report_to` asks for, with the config as their parameters."""
    return trackers_for(cfg.train.trackers(), run_root, config_params(cfg))


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """metrics.json's numbers as `eval.<metric>` and `train.<key>` (tables, lists and text left out)."""
    return {
        f"{section}.{key}": float(value)
        for section in ("eval", "train")
        for key, value in metrics.get(section, {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def run_results(run_root: Path) -> tuple[dict[str, float], dict[str, str]]:
    """(numbers, texts) at the end of `fairtune run`: each audit (and data card) metric as
    `<auditor>/<metric>` and `gates/passed`; each gate's status as `gates/<metric>`."""
    from fairtune.report import collect_metrics

    numbers = {
        key.replace(".", "/", 1): value
        for key, value in collect_metrics(run_root).items()
        if key.partition(".")[0] not in ("eval", "train")  # training logged these
    }
    gates = read_json(run_root / "gates.json")
    numbers["gates/passed"] = float(gates["passed"])
    return numbers, {f"gates/{row['metric']}": row["status"] for row in gates["gates"]}


def publish_run(cfg: FairtuneConfig, run_root: Path) -> None:
    """Log the audits, gates and report.html of a finished `fairtune run` into the training's runs."""
    numbers, texts = run_results(run_root)
    metrics = run_root / "metrics.json"
    step = int(read_json(metrics).get("train", {}).get("steps", 0)) if metrics.is_file() else 0
    trackers = run_trackers(cfg, run_root)
    trackers.start(reopen=True)
    trackers.log(numbers, step)
    if texts:
        trackers.tags(texts, step)
    if (run_root / "report.html").is_file():
        trackers.artifact(run_root / "report.html")
    trackers.finish()
