"""Load a config: defaults < user YAML < `a.b=value` overrides; validate everything, then raise once."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from fairtune.config._metrics import unknown_metric_message
from fairtune.config._schema import FairtuneConfig
from fairtune.errors import (
    BAD_OVERRIDE,
    CONFIG_FILE_MISSING,
    CONFIG_NOT_MAPPING,
    CONFIG_NOT_YAML,
    CONFIG_PROBLEMS,
    DID_YOU_MEAN,
    UNKNOWN_KEY,
    WRONG_VALUE,
    ConfigError,
)

#: Hugging Face `TrainingArguments` names -> fairtune's, for "did you mean" (train.learning_rate -> lr).
HF_NAMES = {
    "learning_rate": "lr",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "train_batch_size": "batch_size",
    "per_device_eval_batch_size": "eval_batch_size",
    "eval_steps": "eval_every",
    "save_steps": "save_every",
    "logging_steps": "log_every",
    "warmup_steps": "warmup_ratio",
    "gradient_clipping": "max_grad_norm",
    "bf16": "precision",
    "fp16": "precision",
    "group_by_length": "length_grouping",
    "model_name_or_path": "name",
    "max_seq_length": "max_length",
}

#: Keys written next to the config in runs/<name>/config.yaml that are not settings.
RECORD_KEYS = ("versions",)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Turn ['train.lr=3e-5', 'name=x'] into a nested dict; values are parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for text in items:
        key, sep, raw = text.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(BAD_OVERRIDE.format(text=text))
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        if parts[0] == "gates" and len(parts) >= 3:  # gate names hold dots: gates.eval.accuracy.min=0.9
            parts = ["gates", ".".join(parts[1:-1]), parts[-1]]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(BAD_OVERRIDE.format(text=text))
        node[parts[-1]] = value
    return out


def merge_raw(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` laid over `base`, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_raw(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(CONFIG_FILE_MISSING.format(path=path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(CONFIG_NOT_YAML.format(path=path, detail=str(exc).replace("\n", " "))) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(CONFIG_NOT_MAPPING.format(path=path, kind=type(raw).__name__))
    return raw


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the field at `loc` (for listing valid keys)."""
    model: type[BaseModel] = FairtuneConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        nxt = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            return None
        model = nxt
    return model


def _describe(err: Any) -> str:
    loc = tuple(err["loc"])
    if not loc:  # a check across sections: its message names the fields and the fix
        return str(err["msg"]).removeprefix("Value error, ")
    field = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        owner = _section_at(loc)
        valid = sorted(owner.model_fields) if owner else []
        key = str(loc[-1])
        alias = HF_NAMES.get(key)
        guess = [alias] if alias in valid else difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        where = field.rpartition(".")[0]  # the guess as the user would type it: train.lr
        suggestion = DID_YOU_MEAN.format(guess=f"{where}.{guess[0]}" if where else guess[0]) if guess else ""
        return UNKNOWN_KEY.format(field=field, suggestion=suggestion, valid=", ".join(valid))
    owner = _section_at(loc)
    info = owner.model_fields.get(str(loc[-1])) if owner else None
    fix = f"Expected: {info.description}" if info and info.description else "Fix the value."
    msg = str(err["msg"]).removeprefix("Value error, ")
    reason = msg[0].lower() + msg[1:]
    return WRONG_VALUE.format(field=field, reason=reason, value=err.get("input"), fix=fix)


def build_config(raw: dict[str, Any], *, installed: bool = True) -> FairtuneConfig:
    """Validate a raw mapping; every problem is collected into one `ConfigError`. `installed`: also check
    what the config asks of this machine (train.report_to's trackers installed, encryption.key_env holding
    a key); off for a finished run's stored config, which later stages read on machines that need not have
    them (a stage that writes encrypted files checks the key itself)."""
    raw = {k: v for k, v in raw.items() if k not in RECORD_KEYS}
    gates = raw.get("gates")
    problems = (
        [f"gates.{name}: {msg}" for name in gates if (msg := unknown_metric_message(str(name)))]
        if isinstance(gates, dict)
        else []
    )
    try:
        cfg = FairtuneConfig.model_validate(raw, context={"installed": installed})
    except ValidationError as exc:
        problems += [_describe(e) for e in exc.errors()]
    if problems:
        raise ConfigError(problems, header=CONFIG_PROBLEMS.format(n=len(problems))) from None
    return cfg


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> FairtuneConfig:
    """Defaults < YAML at `path` < overrides, validated as a whole."""
    extra = parse_overrides(overrides or [])
    raw = read_yaml(path) if path is not None else {}
    raw = merge_raw(raw, extra)
    return build_config(raw)


def config_to_dict(cfg: FairtuneConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def on_jsonl_files(raw: dict[str, Any], train: str, eval_file: str, labels: list[str]) -> None:
    """Point the data section of a config dict at JSONL files written from the run's own rows (label
    names in the run's order): no dataset, group column, row limits or extra rows, as those files carry
    only text and label. For runs derived from a parent on rows it wrote out (update, sweep)."""
    data = {"train": train, "eval": eval_file, "hf_dataset": None, "format": "jsonl", "label_names": labels}
    raw["data"].update(data, group_column=None, max_train_rows=None, max_eval_rows=None, extra_train=None)


def diff_keys(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    keys: list[str] = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        name = f"{prefix}{key}"
        if isinstance(va, dict) and isinstance(vb, dict):
            keys.extend(diff_keys(va, vb, name + "."))
        elif va != vb:
            keys.append(name)
    return keys
