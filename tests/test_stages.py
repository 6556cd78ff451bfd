"""The stage table (`fairtune._stages`): every workflow registers its entry point, `run` composes stages by
name, and a stage's fingerprint covers only the config it reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import fairtune.workflows
from fairtune import _stages
from fairtune._stages import STAGES, register_stage, stage


def test_importing_the_workflows_registers_one_stage_per_workflow_module() -> None:
    # every workflow module but audit_model, which audits a model that is no run: no stage of `fairtune run`
    modules = sorted(p.stem for p in Path(fairtune.workflows.__file__).parent.glob("[!_]*.py"))
    modules.remove("audit_model")
    assert _stages.registered_stages() == modules
    from fairtune.workflows.data import data_card
    from fairtune.workflows.train import train

    assert stage("train") is train and stage("data") is data_card
    assert set(STAGES) <= set(modules)


def test_a_stage_name_is_taken_once_and_an_unknown_one_says_how_to_register(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_stages, "_TABLE", dict(_stages._TABLE))
    train = stage("train")
    assert register_stage("train", train) is train  # a reloaded module registers the same function again
    with pytest.raises(ValueError, match="'train' is registered twice"):
        register_stage("train", lambda cfg: None)
    with pytest.raises(LookupError, match=r"no stage 'nope'.*import fairtune\.workflows"):
        stage("nope")


def test_the_workflows_package_imports_without_torch() -> None:
    probe = (
        "import sys, fairtune.workflows\n"
        "print(sorted(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_run_composes_the_registered_stages_by_name(
    tiny_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fairtune run` calls whatever is registered under each stage's name, in order."""
    from fairtune._io import atomic_write_json
    from fairtune.config import build_config
    from fairtune.workflows.run import run_pipeline

    calls: list[str] = []

    def fake(name: str) -> Any:
        def fn(*args: Any, **kwargs: Any) -> None:
            calls.append(name)
            if name == "report":
                atomic_write_json(Path(args[0]) / "gates.json", {"passed": True, "gates": []})

        return fn

    for name in STAGES:
        monkeypatch.setitem(_stages._TABLE, name, fake(name))
    gates = run_pipeline(build_config(tiny_config), show_progress=False, log=lambda m: None)
    assert calls == list(STAGES) and gates["passed"] is True


def test_fingerprint_ignores_optional_keys_that_are_off(
    tiny_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later version adding an optional key (default None) must not make finished stages stale."""
    from fairtune._stages import fingerprint
    from fairtune.config import build_config

    cfg = build_config(tiny_config)
    before = fingerprint(cfg, "train")
    assert cfg.train.adversarial is None and cfg.data.extra_train is None
    real = _stages.config_to_dict
    # the same config as an older schema without those keys would have written it
    monkeypatch.setattr(
        _stages,
        "config_to_dict",
        lambda c: {
            **real(c),
            "train": {
                k: v for k, v in real(c)["train"].items() if k not in ("adversarial", "counterfactual")
            },
        },
    )
    assert fingerprint(cfg, "train") == before
    monkeypatch.undo()
    changed = build_config({**tiny_config, "train": {**tiny_config["train"], "lr": 0.5}})
    assert fingerprint(changed, "train") != before
