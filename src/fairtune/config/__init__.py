"""Typed configuration: sections, loading with overrides, validation that reports every problem."""

from fairtune.config._load import (
    build_config,
    config_to_dict,
    diff_keys,
    load_config,
    parse_overrides,
    read_yaml,
)
from fairtune.config._schema import (
    DataConfig,
    EarlyStoppingConfig,
    FairtuneConfig,
    LoraConfig,
    ModelConfig,
    TrainConfig,
)

__all__ = [
    "DataConfig",
    "EarlyStoppingConfig",
    "FairtuneConfig",
    "LoraConfig",
    "ModelConfig",
    "TrainConfig",
    "build_config",
    "config_to_dict",
    "diff_keys",
    "load_config",
    "parse_overrides",
    "read_yaml",
]
