"""The registry of data-side mitigations (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: (config, task data) -> (info for metrics.json or {} when off, extras for the training objectives)
DataTransform = Callable[[Any, Any], tuple[dict[str, Any], dict[str, Any]]]
TRANSFORMS: dict[str, DataTransform] = {}


def register_data_transform(name: str) -> Callable[[DataTransform], DataTransform]:
    """Register a transform; its info goes to metrics.json under train.<name>."""

    def deco(fn: DataTransform) -> DataTransform:
        if name in TRANSFORMS:
            raise ValueError(f"data transform {name!r} is registered twice")
        TRANSFORMS[name] = fn
        return fn

    return deco


def apply_data_transforms(cfg: Any, data: Any) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Apply every registered transform to `data` in order: ({name: info} of those that ran, extras)."""
    infos: dict[str, dict[str, Any]] = {}
    extras: dict[str, Any] = {}
    for name, fn in TRANSFORMS.items():
        info, more = fn(cfg, data)
        if info:
            infos[name] = info
        extras.update(more)
    return infos, extras
