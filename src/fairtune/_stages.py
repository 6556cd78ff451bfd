"""The stage table: each workflow's entry point by name, and what each pipeline stage reads.

Workflows never import each other. Each workflow module registers its entry point here with one call
(`register_stage("train", train)`); importing `fairtune.workflows` registers them all. A workflow that
composes others (`run`, `mitigate`) or a component that needs one (the privacy audit's reference model)
looks it up by name: `stage("train")(cfg, ...)`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fairtune.config import FairtuneConfig, config_to_dict

F = TypeVar("F", bound=Callable[..., Any])

#: The stages of `fairtune run`, in order.
STAGES = ("data", "train", "evaluate", "audit", "report")
#: The config sections each stage reads. A stage whose inputs changed since it ran is redone.
STAGE_INPUTS = {
    "data": ("data", "data_card", "model", "encryption"),
    "train": ("seed", "data", "model", "train", "encryption"),
    "evaluate": ("seed", "data", "model", "train"),
    "audit": ("seed", "data", "model", "train", "audit"),
    "report": ("gates", "card"),
}

_TABLE: dict[str, Callable[..., Any]] = {}


def register_stage(name: str, fn: F) -> F:
    """Register `fn` as the entry point of stage `name`. Registering the same function again (a reloaded
    module) replaces it; another function under a taken name is an error."""
    known = _TABLE.get(name)
    if known is not None and (known.__module__, known.__qualname__) != (fn.__module__, fn.__qualname__):
        raise ValueError(f"stage {name!r} is registered twice: {known.__module__} and {fn.__module__}")
    _TABLE[name] = fn
    return fn


def stage(name: str) -> Callable[..., Any]:
    """The entry point registered as `name`."""
    try:
        return _TABLE[name]
    except KeyError:
        raise LookupError(
            f"no stage {name!r} is registered; `import fairtune.workflows` registers every stage "
            f"(registered now: {', '.join(sorted(_TABLE)) or 'none'})"
        ) from None


def registered_stages() -> list[str]:
    return sorted(_TABLE)


def drop_unset(value: Any) -> Any:
    """Drop keys whose value is None: an optional feature that is off leaves no trace, so adding a new
    optional config key in a later version does not make every finished stage look stale."""
    if isinstance(value, dict):
        return {k: drop_unset(v) for k, v in value.items() if v is not None}
    return value


def fingerprint(cfg: FairtuneConfig, name: str) -> str:
    """A hash of the config sections stage `name` reads (`STAGE_INPUTS`), recorded in stages.json."""
    doc = drop_unset(config_to_dict(cfg))
    blob = json.dumps({k: doc[k] for k in STAGE_INPUTS[name] if k in doc}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
