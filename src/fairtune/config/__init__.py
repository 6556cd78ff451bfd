"""Typed configuration: sections, loading with overrides, validation that reports every problem."""

from fairtune.config._load import (
    build_config,
    config_to_dict,
    diff_keys,
    load_config,
    parse_overrides,
    read_yaml,
)
from fairtune.config._metrics import KNOWN_METRICS, all_metric_names
from fairtune.config._schema import (
    FAIRNESS_DIMENSIONS,
    AdversarialConfig,
    AuditConfig,
    CardConfig,
    CounterfactualConfig,
    DataCardConfig,
    DataConfig,
    EarlyStoppingConfig,
    FairnessAuditConfig,
    FairtuneConfig,
    GateConfig,
    LoraConfig,
    ModelConfig,
    RobustnessAuditConfig,
    TrainConfig,
)

__all__ = [
    "FAIRNESS_DIMENSIONS",
    "KNOWN_METRICS",
    "AdversarialConfig",
    "AuditConfig",
    "CardConfig",
    "CounterfactualConfig",
    "DataCardConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "FairnessAuditConfig",
    "FairtuneConfig",
    "GateConfig",
    "LoraConfig",
    "ModelConfig",
    "RobustnessAuditConfig",
    "TrainConfig",
    "all_metric_names",
    "build_config",
    "config_to_dict",
    "diff_keys",
    "load_config",
    "parse_overrides",
    "read_yaml",
]
