"""Retraining noise: a metric measured on runs that differ only in their seed.

Each run is one draw of the whole training (head init, batch order, dropout). The mean over seeds gets a
t-interval, and a mitigation's effect is the difference of two such means with Welch's interval (the
child and the parent runs are independent trainings; no equal variances assumed). A change whose
interval covers 0 cannot be told apart from retraining noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

NOISE = "not distinguishable from retraining noise"
ONE_SEED = "one seed: retraining noise not measured"


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """{"mean", "ci95" (None for fewer than 2 values or no spread), "n", "values"}."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    out: dict[str, Any] = {"mean": float(x.mean()), "ci95": None, "n": len(x), "values": x.tolist()}
    if len(x) >= 2:
        sem = float(x.std(ddof=1) / np.sqrt(len(x)))
        half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * sem)
        out["ci95"] = [out["mean"] - half, out["mean"] + half]
    return out


def difference_ci(child: Sequence[float], parent: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Mean of child - parent and Welch's interval; None when either side has fewer than 2 values."""
    from scipy import stats

    a, b = np.asarray(child, dtype=float), np.asarray(parent, dtype=float)
    out: dict[str, Any] = {"mean": float(a.mean() - b.mean()), "ci95": None}
    if len(a) < 2 or len(b) < 2:
        return out
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread at all: the difference is exact
        out["ci95"] = [out["mean"], out["mean"]]
        return out
    with warnings.catch_warnings():  # near-equal values: scipy warns, the interval is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_ind(a, b, equal_var=False)
        lo, hi = res.confidence_interval(confidence_level=level)
    out["ci95"] = [float(lo), float(hi)]
    return out


def verdict(diff: dict[str, Any], lower_is_better: bool) -> str:
    """'improved', 'worse', NOISE (the interval covers 0) or ONE_SEED (no interval)."""
    ci = diff["ci95"]
    if ci is None:
        return ONE_SEED
    if ci[0] <= 0 <= ci[1]:
        return NOISE
    better = ci[1] < 0 if lower_is_better else ci[0] > 0
    return "improved" if better else "worse"


def compare_seeds(child: Sequence[float], parent: Sequence[float], lower_is_better: bool) -> dict[str, Any]:
    """One metric over the child's and the parent's seeds: {"parent", "child"} (mean_ci of each) and
    "diff": child - parent with Welch's interval, its change relative to the parent's mean (None where
    that mean is 0) and the verdict."""
    p, c = mean_ci(parent), mean_ci(child)
    diff = difference_ci(child, parent)
    relative = diff["mean"] / abs(p["mean"]) if abs(p["mean"]) > 1e-9 else None
    return {
        "parent": p,
        "child": c,
        "diff": {**diff, "relative": relative, "verdict": verdict(diff, lower_is_better)},
    }
