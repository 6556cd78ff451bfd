"""What an auditor declares once, when it registers: its metrics (with their direction), what it needs,
and the one function that runs it over an `AuditContext`.

Gate validation, the mitigation and compression comparisons, the CLI's `--only` choices and the
report read these declarations, so an auditor's metric names live in one place: its `_plugin.py`.
This module is light (no numpy, pandas or torch): config validation reads the declarations.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fairtune.errors import FairtuneError

if TYPE_CHECKING:
    from fairtune._rundir import RunDir
    from fairtune.audits._result import AuditResult
    from fairtune.config import FairtuneConfig
    from fairtune.data import LabelledData
    from fairtune.models import Classifier


@dataclass(frozen=True)
class Metric:
    """One number an auditor writes to audit/<name>.json["metrics"]."""

    name: str
    #: True: lower is better (a harm); False: higher is better; None: neither (a count, a setting)
    lower_is_better: bool | None
    #: shown in the before/after tables of `fairtune mitigate` and `fairtune compress`
    compared: bool = False
    #: a wall-clock time or rate: differs between two identical runs
    timing: bool = False
    #: its name in the model card's metadata (model-index); none: the metric is not on the card
    title: str = ""
    #: shown in the model card's ethical considerations (every metric is in report.html)
    key: bool = False


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class AuditContext:
    """Everything an auditor may use. Only `classifier`, `eval` and `config` are always there."""

    classifier: Classifier
    eval: LabelledData
    config: FairtuneConfig
    #: the training texts (the privacy audit's members); None when the caller has none
    train: LabelledData | None = None
    #: the fairtune run the model comes from, for what only a run holds (canaries, DP accounting,
    #: the privacy reference model); None for any other model
    run: RunDir | None = None
    #: documents of auditors that ran before this one (the explain audit explains their worst examples)
    prior: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: Callable[[str], None] = log_to_stderr


Runner = Callable[[AuditContext], "AuditResult"]
#: config -> every problem with what the enabled auditor will need (files, WordNet, packages)
Preflight = Callable[["FairtuneConfig"], list[str]]


@dataclass(frozen=True)
class AuditorSpec:
    """A registered auditor. Its config section is `audit.<name>`."""

    name: str
    order: int
    run: Runner | None
    metrics: tuple[Metric, ...]
    #: re-run on every compressed variant by `fairtune compress`
    reaudit_variants: bool = True
    #: a one-line description for `--only`'s help and the docs
    description: str = ""
    #: checked before any training when the auditor is enabled
    preflight: Preflight | None = None
    #: files and folders outside its own package that it reads (paths under fairtune/: lexicons,
    #: shared helpers), part of its code digest (audits/_provenance.py)
    inputs: tuple[str, ...] = ()

    @property
    def on_classifier(self) -> bool:
        """False for an auditor of another kind of model (mlm_bias: a masked LM), run by its own command."""
        return self.run is not None

    def __call__(self, ctx: AuditContext) -> AuditResult:
        """Run the auditor over `ctx`."""
        if self.run is None:
            raise FairtuneError(
                f"{self.name}: this auditor does not run over a classifier; {self.description}."
            )
        return self.run(ctx)

    def problems(self, cfg: FairtuneConfig) -> list[str]:
        """What the auditor will lack under `cfg` (its preflight; nothing to check: [])."""
        return self.preflight(cfg) if self.preflight else []

    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def compared(self) -> list[tuple[str, bool]]:
        """(`<auditor>.<metric>`, lower is better) for the before/after tables."""
        return [(f"{self.name}.{m.name}", bool(m.lower_is_better)) for m in self.metrics if m.compared]
