"""Membership inference: the attack's numbers on classifiers whose leakage is known."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from fairtune.audits.privacy import audit_privacy, loss_threshold_attack, tpr_at_fpr
from fairtune.config import PrivacyAuditConfig
from fairtune.data import LabelledData
from fairtune.errors import DataError


class MemorisingClassifier:
    """Sure of the right label for texts it was trained on, unsure elsewhere: it leaks membership."""

    labels = ["negative", "positive"]  # noqa: RUF012

    def __init__(self, members: dict[str, int], leak: bool) -> None:
        self.members, self.leak = members, leak

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for t in texts:
            y = self.members.get(t, int(t.endswith("+")))
            sure = (
                0.99
                if (self.leak and t in self.members)
                else 0.6 + 0.3 * (zlib.crc32(t.encode()) % 100) / 100
            )
            out.append([1 - sure, sure] if y == 1 else [sure, 1 - sure])
        return np.array(out)


def _data(n: int, tag: str) -> LabelledData:
    texts = [f"{tag} text {i}" + ("+" if i % 2 else "-") for i in range(n)]
    return LabelledData(texts, np.array([i % 2 for i in range(n)]), source=tag)


@pytest.mark.parametrize(("leak", "low", "high"), [(True, 0.95, 1.0), (False, 0.35, 0.65)])
def test_auc_is_high_for_a_memorising_model_and_near_chance_otherwise(
    leak: bool, low: float, high: float
) -> None:
    train, held = _data(400, "train"), _data(400, "held")
    clf = MemorisingClassifier(dict(zip(train.texts, train.labels.tolist(), strict=True)), leak)
    res = audit_privacy(clf, train, held, PrivacyAuditConfig(sample=300))
    m = res.metrics
    assert low <= m["mia_auc"] <= high
    assert res.details["membership"]["members"] == 300
    if leak:
        assert m["mia_tpr_at_1pct_fpr"] > 0.9 and res.findings[0]["severity"] == "warning"
    else:
        assert m["mia_tpr_at_1pct_fpr"] < 0.2 and res.findings[0]["severity"] == "info"


def test_attack_numbers_on_a_known_case() -> None:
    out = loss_threshold_attack(np.array([0.1, 0.2, 0.3, 2.0]), np.array([1.0, 1.5, 2.5, 3.0]))
    assert out["auc"] == pytest.approx(14 / 16)  # 14 of 16 member/non-member pairs ordered right
    assert out["advantage"] == pytest.approx(0.75)
    fpr, tpr = np.array([0.0, 0.005, 0.02, 1.0]), np.array([0.1, 0.3, 0.8, 1.0])
    assert tpr_at_fpr(fpr, tpr, 0.01) == 0.3 and tpr_at_fpr(fpr, tpr, 0.001) == 0.1


def test_too_little_data_is_an_error_naming_the_field() -> None:
    train, held = _data(40, "train"), _data(5, "held")
    clf = MemorisingClassifier({}, False)
    with pytest.raises(DataError, match=r"audit\.privacy: membership inference needs at least 10"):
        audit_privacy(clf, train, held, PrivacyAuditConfig())
