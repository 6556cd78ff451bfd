"""fairtune: fine-tune text classifiers and ship them with evidence that they are fit to use.

Audit any model in four lines::

    import fairtune as ft
    clf = ft.classifier("path/to/hf-folder")      # or a pipeline, a scikit-learn pipeline, ft.endpoint(url)
    result = ft.audit(clf, "eval.csv", only=["fairness", "robustness"])
    result.save("audits/my-model"); result.check_gates({"fairness.flip_rate": {"max": 0.02}})

Names load on first use (PEP 562): `import fairtune` imports neither torch nor pandas.
"""

from typing import TYPE_CHECKING

from fairtune._lazy import lazy_exports
from fairtune._version import __version__

if TYPE_CHECKING:
    from fairtune.models._adapters import classifier
    from fairtune.models._endpoint import endpoint
    from fairtune.workflows.audit_model import AuditReport
    from fairtune.workflows.audit_model import audit_model as audit

_lazy = lazy_exports(
    "fairtune",
    {
        "classifier": "models._adapters",
        "endpoint": "models._endpoint",
        "AuditReport": "workflows.audit_model",
    },
)


def __getattr__(name: str) -> object:
    if name == "audit":  # the function, not the `fairtune audit` workflow module of the same verb
        from fairtune.workflows.audit_model import audit_model

        return audit_model
    return _lazy(name)


__all__ = ["AuditReport", "__version__", "audit", "classifier", "endpoint"]
