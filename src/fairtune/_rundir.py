"""The run directory is the data bus: one place that knows its layout and its guards."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from fairtune._io import atomic_write_text, clean_leftovers, read_json
from fairtune.config import (
    FairtuneConfig,
    build_config,
    config_to_dict,
    diff_keys,
    merge_raw,
    parse_overrides,
    read_yaml,
)
from fairtune.errors import (
    NO_CHECKPOINT,
    RUN_DIR_MISSING,
    RUN_EXISTS,
    RUN_NOT_TRAINED,
    RUN_OTHER_CONFIG,
    RUN_OVERRIDE_SECTION,
    ConfigError,
    RunError,
)

VERSIONED = ("fairtune", "torch", "transformers", "peft", "accelerate", "datasets", "tokenizers", "numpy")

#: Keys whose change does not make a run directory "another config's": where to write, how to log, how
#: its files are stored (encryption), and what only later stages read (gates, model-card facts, data-card
#: thresholds). `fairtune run` redoes the stages that read a changed key instead.
NON_IDENTITY_KEYS = (
    "output_dir",
    "train.log_every",
    "train.save_every",
    "train.threads",
    "train.report_to",
    "gates",
    "card",
    "data_card",
    "audit",
    "mitigate",
    "monitor",
    "encryption",
)


@dataclass(frozen=True)
class RunDir:
    root: Path

    @classmethod
    def for_config(cls, cfg: FairtuneConfig) -> RunDir:
        return cls(Path(cfg.output_dir) / cfg.name)

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def current(self) -> Path:
        """The pointer `fairtune update` writes when it promotes a refreshed model."""
        return self.root / "current.json"

    @property
    def current_model(self) -> Path:
        """The model the run serves: the promoted update's (current.json) or its own model/."""
        if self.current.is_file():
            return self.root / read_json(self.current)["model"]
        return self.model

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def events(self) -> Path:
        return self.root / "events"

    @property
    def data_card(self) -> Path:
        return self.root / "data" / "card.json"

    @property
    def stages(self) -> Path:
        return self.root / "stages.json"

    @property
    def gates(self) -> Path:
        return self.root / "gates.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    def clear_training_outputs(self) -> None:
        """Remove what training and every later stage wrote; keep config.yaml and the data card."""
        import shutil

        for rel in ("model", "checkpoints", "events", "audit", "mitigate", "compress", "seeds"):
            shutil.rmtree(self.root / rel, ignore_errors=True)
        for rel in ("metrics.json", "report.html", "report.md", "summary.json", "gates.json"):
            (self.root / rel).unlink(missing_ok=True)

    def require(self) -> RunDir:
        if not self.root.is_dir():
            raise RunError(RUN_DIR_MISSING.format(path=self.root))
        return self

    def require_model(self) -> Path:
        self.require()
        if not (self.model / "config.json").is_file():
            raise RunError(RUN_NOT_TRAINED.format(path=self.root))
        return self.model

    def load_config(self) -> FairtuneConfig:
        self.require()
        return build_config(read_yaml(self.config), installed=False)

    def read_metrics(self) -> dict[str, Any]:
        return read_json(self.metrics) if self.metrics.is_file() else {}

    def write_config(self, cfg: FairtuneConfig, versions: dict[str, str] | None = None) -> None:
        """Save `cfg` with the package versions (`versions`, e.g. those recorded at training, or now's)."""
        doc = config_to_dict(cfg)
        doc["versions"] = versions if versions is not None else package_versions()
        atomic_write_text(self.config, yaml.safe_dump(doc, sort_keys=False))

    def override_config(self, items: list[str], sections: tuple[str, ...], verb: str) -> FairtuneConfig:
        """The stored config with KEY=VALUE overrides applied, validated, and saved back to config.yaml
        (the training-time `versions` record kept), so the run keeps saying how its later stages ran.
        Only keys under `sections` may change: any other would make the run another config's."""
        extra = parse_overrides(items)
        for text in items:
            key = text.partition("=")[0]
            if key.split(".")[0] not in sections:
                raise ConfigError(
                    RUN_OVERRIDE_SECTION.format(
                        text=text, key=key, verb=verb, sections=", ".join(f"{s}.*" for s in sections)
                    )
                )
        self.require()
        raw = read_yaml(self.config)
        cfg = build_config(merge_raw(raw, extra), installed=False)
        self.write_config(cfg, versions=raw.get("versions"))
        return cfg

    def check_same_config(self, cfg: FairtuneConfig) -> None:
        """Refuse to reuse a run directory that was made with a different config."""
        if not self.config.is_file():
            return
        old = {k: v for k, v in read_yaml(self.config).items() if k != "versions"}
        diffs = [
            k
            for k in diff_keys(old, config_to_dict(cfg))
            if not any(k == p or k.startswith(p + ".") for p in NON_IDENTITY_KEYS)
        ]
        if diffs:
            raise RunError(RUN_OTHER_CONFIG.format(path=self.root, keys=", ".join(diffs)))


def prepare_run_dir(
    cfg: FairtuneConfig, *, resume: bool, overwrite: bool, checkpoint_glob: str = "step-*"
) -> RunDir:
    """The run directory to train into, refusing to overwrite a model or checkpoints without --overwrite
    and to resume without a checkpoint. `checkpoint_glob` names the checkpoint folders of the loop."""
    run = RunDir.for_config(cfg)
    for note in clean_leftovers(run.root):
        print(f"train: {run.root}: {note} (left by an interrupted write)", flush=True)
    if overwrite:
        run.clear_training_outputs()
    has_ckpt = run.checkpoints.is_dir() and any(run.checkpoints.glob(checkpoint_glob))
    if resume:
        run.check_same_config(cfg)
        if not has_ckpt:
            raise RunError(NO_CHECKPOINT.format(path=run.root))
    elif run.model.exists() or has_ckpt:
        raise RunError(
            RUN_EXISTS.format(path=run.root, what="a model" if run.model.exists() else "checkpoints")
        )
    run.root.mkdir(parents=True, exist_ok=True)
    return run


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
