"""The auditors, registered once each by their `_plugin.py` (peft's `register_peft_method` is the model).

`auditors()` imports every `fairtune/audits/<name>/_plugin.py` on first use, so adding an auditor adds
its folder and nothing else. Plug-in modules are light: they import their auditor's heavy code inside
the function that runs it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fairtune._registry import Registry
from fairtune.audits._spec import AuditorSpec, Metric, Preflight, Runner

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig

_AUDITORS: Registry[AuditorSpec] = Registry("auditor")
_loaded = False


def register_auditor(
    name: str,
    order: int,
    metrics: tuple[Metric, ...],
    *,
    reaudit_variants: bool = True,
    description: str = "",
    preflight: Preflight | None = None,
    inputs: tuple[str, ...] = (),
) -> Callable[[Runner], Runner]:
    """Register the function that runs auditor `name` (config section `audit.<name>`) over an
    `AuditContext`; auditors run by `order`. `metrics` are all the metrics it may write; `preflight`
    lists what it will lack, checked before any training; `inputs` names the files and folders under
    fairtune/ outside its own package that it reads (its code digest covers them)."""

    def deco(run: Runner) -> Runner:
        about = description or (run.__doc__ or "")
        spec = AuditorSpec(name, order, run, metrics, reaudit_variants, about, preflight, inputs)
        _AUDITORS.register(name, order)(spec)
        return run

    return deco


def register_metrics(name: str, order: int, metrics: tuple[Metric, ...], description: str) -> None:
    """Declare an auditor of another kind of model (run by its own command, not over a `Classifier`)."""
    _AUDITORS.register(name, order)(AuditorSpec(name, order, None, metrics, False, description))


def auditors() -> Registry[AuditorSpec]:
    """Every registered auditor, by order (on first use, every auditor folder's `_plugin.py` is imported)."""
    global _loaded
    if not _loaded:
        _loaded = True
        folder = Path(__file__).parent
        for info in sorted(pkgutil.iter_modules([str(folder)]), key=lambda i: i.name):
            if info.ispkg and (folder / info.name / "_plugin.py").is_file():
                importlib.import_module(f"fairtune.audits.{info.name}._plugin")
    return _AUDITORS


def classifier_auditors() -> list[str]:
    """The auditors that run over a `Classifier`, in order (`--only`'s choices)."""
    return [name for name, spec in auditors().ordered() if spec.on_classifier]


def enabled_auditors(cfg: FairtuneConfig) -> list[str]:
    return [name for name in classifier_auditors() if getattr(cfg.audit, name).enabled]
