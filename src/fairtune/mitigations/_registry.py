"""The registry of data-side mitigations (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fairtune._registry import Registry

#: (config, task data) -> (info for metrics.json or {} when off, extras for the training objectives)
DataTransform = Callable[[Any, Any], tuple[dict[str, Any], dict[str, Any]]]
#: name -> transform, applied in their order
TRANSFORMS: Registry[DataTransform] = Registry("data transform")


def register_data_transform(name: str, order: int) -> Callable[[DataTransform], DataTransform]:
    """Register a transform, applied by `order` among the others; its info goes to metrics.json under
    train.<name>."""
    return TRANSFORMS.register(name, order)


def apply_data_transforms(cfg: Any, data: Any) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Apply every registered transform to `data` in order: ({name: info} of those that ran, extras)."""
    infos: dict[str, dict[str, Any]] = {}
    extras: dict[str, Any] = {}
    for name, fn in TRANSFORMS.ordered():
        info, more = fn(cfg, data)
        if info:
            infos[name] = info
        extras.update(more)
    return infos, extras
