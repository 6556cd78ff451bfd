"""The foundation model's own bias: CrowS-Pairs pseudo-log-likelihood preference of a masked LM.

Names load on first use (PEP 562), so the registry can import this auditor's `_plugin` cheaply."""

from typing import TYPE_CHECKING

from fairtune._lazy import lazy_exports

if TYPE_CHECKING:
    from fairtune.audits.mlm_bias._crows import (
        audit_mlm_bias,
        pseudo_log_likelihood,
        read_crows,
        shared_positions,
    )

__getattr__ = lazy_exports(
    __name__,
    {
        "audit_mlm_bias": "_crows",
        "pseudo_log_likelihood": "_crows",
        "read_crows": "_crows",
        "shared_positions": "_crows",
    },
)

__all__ = [
    "audit_mlm_bias",
    "pseudo_log_likelihood",
    "read_crows",
    "shared_positions",
]
