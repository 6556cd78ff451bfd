"""The mlm_bias auditor's declaration. It scores a masked language model (`fairtune audit --only
mlm_bias`), not a classifier, so it registers its metrics only."""

from __future__ import annotations

from fairtune.audits._registry import register_metrics
from fairtune.audits._spec import Metric

BIAS_TYPES = (
    "race_color",
    "gender",
    "socioeconomic",
    "nationality",
    "religion",
    "age",
    "sexual_orientation",
    "physical_appearance",
    "disability",
)
#: 0.5 is the unbiased score, so neither direction is better
METRICS = (Metric("stereotype_score", None), *(Metric(f"stereotype_score_{t}", None) for t in BIAS_TYPES))

register_metrics("mlm_bias", 50, METRICS, "CrowS-Pairs stereotype score of a masked language model")
