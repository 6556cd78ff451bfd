"""Workflows: thin, linear scripts that wire components together. One per CLI verb.

Workflows never import each other. Each registers its entry point in the stage table (`fairtune._stages`)
under its own name, and importing this package imports them all, so every stage is registered before
`run`, `mitigate` or the privacy audit's reference model looks one up: `stage("train")(cfg, ...)`. Their
module-level imports stay light (no torch, transformers, pandas): heavy imports are made inside functions.
"""

from fairtune.workflows import (
    audit,
    audit_model,
    compare,
    compress,
    data,
    evaluate,
    explain,
    mitigate,
    monitor,
    predict,
    pretrain,
    report,
    run,
    serve,
    train,
    update,
    validate,
)

__all__ = [
    "audit",
    "audit_model",
    "compare",
    "compress",
    "data",
    "evaluate",
    "explain",
    "mitigate",
    "monitor",
    "predict",
    "pretrain",
    "report",
    "run",
    "serve",
    "train",
    "update",
    "validate",
]
