"""The foundation model's own bias: CrowS-Pairs pseudo-log-likelihood preference of a masked LM."""

from fairtune.audits.mlm_bias._crows import (
    audit_mlm_bias,
    pseudo_log_likelihood,
    read_crows,
    shared_positions,
)

__all__ = ["audit_mlm_bias", "pseudo_log_likelihood", "read_crows", "shared_positions"]
