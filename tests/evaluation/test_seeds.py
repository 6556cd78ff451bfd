"""Retraining noise: means over seeds, their intervals, and the verdict on a difference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fairtune.evaluation import NOISE, ONE_SEED, compare_seeds, difference_ci, mean_ci, verdict


def test_mean_ci_is_the_t_interval() -> None:
    out = mean_ci([0.80, 0.82, 0.81])
    half = stats.t.ppf(0.975, 2) * np.std([0.80, 0.82, 0.81], ddof=1) / np.sqrt(3)
    assert out["mean"] == pytest.approx(0.81) and out["n"] == 3
    assert out["ci95"] == pytest.approx([0.81 - half, 0.81 + half])
    assert mean_ci([0.8])["ci95"] is None


def test_difference_is_welch_and_the_verdict_follows_its_interval() -> None:
    child, parent = [0.10, 0.12, 0.11], [0.30, 0.33, 0.29]
    d = difference_ci(child, parent)
    lo, hi = stats.ttest_ind(child, parent, equal_var=False).confidence_interval()
    assert d["mean"] == pytest.approx(0.11 - np.mean(parent)) and d["ci95"] == pytest.approx([lo, hi])
    assert verdict(d, lower_is_better=True) == "improved"
    assert verdict(d, lower_is_better=False) == "worse"
    noisy = difference_ci([0.10, 0.30, 0.20], [0.25, 0.15, 0.22])
    assert noisy["ci95"][0] < 0 < noisy["ci95"][1] and verdict(noisy, True) == NOISE
    assert verdict(difference_ci([0.1], [0.3]), True) == ONE_SEED  # no interval: never "improved"


def test_compare_seeds_gives_both_sides_the_difference_its_relative_change_and_verdict() -> None:
    child, parent = [0.10, 0.12, 0.11], [0.20, 0.22, 0.21]
    out = compare_seeds(child, parent, lower_is_better=True)
    assert out["parent"] == mean_ci(parent) and out["child"] == mean_ci(child)
    assert out["diff"]["ci95"] == difference_ci(child, parent)["ci95"]
    assert out["diff"]["relative"] == pytest.approx(-0.10 / 0.21) and out["diff"]["verdict"] == "improved"
    assert compare_seeds(child, parent, lower_is_better=False)["diff"]["verdict"] == "worse"
    assert compare_seeds([0.1, 0.2], [0.0, 0.0], lower_is_better=True)["diff"]["relative"] is None


def test_the_interval_covers_a_zero_effect_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    covered = [
        (lambda ci: ci[0] <= 0 <= ci[1])(difference_ci(rng.normal(size=3), rng.normal(size=3))["ci95"])
        for _ in range(400)
    ]
    assert 0.92 <= np.mean(covered) <= 0.99
