"""Whether a refreshed model may replace its parent: every gate passes and no metric got worse beyond a
tolerance. Directions come from the auditors' declarations (and the evaluation's own metrics)."""

from __future__ import annotations

from typing import Any

#: evaluation metrics and their direction (lower is better)
EVAL_DIRECTIONS = {"accuracy": False, "macro_f1": False, "ece": True, "loss": True}


def directions() -> dict[str, bool]:
    """Every gateable metric with a direction -> lower is better."""
    from fairtune.audits import auditors

    # eval: the run's eval split; new: the held-out part of an update's new data
    out = {f"{src}.{k}": lower for src in ("eval", "new") for k, lower in EVAL_DIRECTIONS.items()}
    for name, spec in auditors().ordered():
        out.update(
            {
                f"{name}.{m.name}": m.lower_is_better
                for m in spec.metrics
                if m.lower_is_better is not None and not m.timing
            }
        )
    return out


def worse_by(parent: float, child: float, lower_is_better: bool) -> float:
    """How much worse the child is (0 or more)."""
    return max(0.0, (child - parent) if lower_is_better else (parent - child))


def compare_metrics(
    parent: dict[str, float], child: dict[str, float], *, tolerance: float, relative: float
) -> list[dict[str, Any]]:
    """A row per metric both measured: values, change, and `blocks` when the child is worse by more than
    max(tolerance, relative * |parent|)."""
    rows = []
    for metric, lower in directions().items():
        if metric not in parent or metric not in child:
            continue
        p, c = parent[metric], child[metric]
        allowed = max(tolerance, relative * abs(p))
        worse = worse_by(p, c, lower)
        rows.append(
            {
                "metric": metric,
                "parent": p,
                "child": c,
                "delta": c - p,
                "lower_is_better": lower,
                "worse_by": worse,
                "allowed": allowed,
                "blocks": worse > allowed,
            }
        )
    return rows
