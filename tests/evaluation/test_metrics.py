from __future__ import annotations

import numpy as np
import pytest

from fairtune.evaluation import classification_metrics, expected_calibration_error


def test_ece_of_perfectly_calibrated_bins_is_zero() -> None:
    # 10 predictions at confidence 0.8, 8 correct -> calibrated; ECE = 0
    probs = np.tile([[0.2, 0.8]], (10, 1))
    y = np.array([1] * 8 + [0] * 2)
    assert expected_calibration_error(y, probs) == pytest.approx(0.0)


def test_ece_hand_computed() -> None:
    probs = np.array([[0.1, 0.9], [0.1, 0.9], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([1, 0, 1, 1])
    # bin(0.9): acc 0.5, conf 0.9 -> 0.4; bin(0.6): acc 1.0, conf 0.6 -> 0.4; weights 1/2 each
    assert expected_calibration_error(y, probs) == pytest.approx(0.4)


def test_classification_metrics_shape_and_values() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    m = classification_metrics(y, probs, ["neg", "pos"], loss=0.5)
    assert m["accuracy"] == 0.75
    assert m["confusion_matrix"] == [[1, 0], [1, 2]]
    assert m["per_class"]["neg"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
    }
    assert m["per_class"]["pos"]["recall"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert sum(b["count"] for b in m["reliability"]) == 4
