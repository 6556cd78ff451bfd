"""Membership inference: the attack's numbers on classifiers whose leakage is known."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from fairtune.audits.privacy import audit_privacy, loss_threshold_attack, tpr_at_fpr
from fairtune.audits.privacy._audit import attack_scores, auc_and_tpr_at_1pct, bootstrap_ci, length_matched
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


class LengthClassifier:
    """Leaks nothing: its confidence depends only on how many words a text has (longer: less sure)."""

    labels = ["negative", "positive"]  # noqa: RUF012

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        sure = np.array([0.97 - 0.02 * len(t.split()) for t in texts])
        return np.c_[1 - sure, sure]  # every label here is 1


def test_matching_word_counts_keeps_a_population_gap_from_reading_as_membership() -> None:
    rng = np.random.default_rng(0)
    # Training texts are mostly short phrases, held-out texts full sentences (as in GLUE's SST-2).
    train_words = np.r_[rng.integers(1, 8, 900), rng.integers(8, 30, 600)]
    held_words = rng.integers(8, 30, 300)
    train = LabelledData([" ".join(["w"] * k) for k in train_words], np.ones(1500, dtype=int), source="t")
    held = LabelledData([" ".join(["v"] * k) for k in held_words], np.ones(300, dtype=int), source="h")
    plain = audit_privacy(LengthClassifier(), train, held, PrivacyAuditConfig(sample=300, match_length=False))
    matched = audit_privacy(LengthClassifier(), train, held, PrivacyAuditConfig(sample=300))
    assert plain.metrics["mia_auc"] > 0.7  # a leak-free model "leaks" through text length alone
    assert abs(matched.metrics["mia_auc"] - 0.5) < 0.05
    d = matched.details["membership"]
    assert d["members_matched_on"] == "word count"
    assert abs(d["member_mean_words"] - d["nonmember_mean_words"]) < 0.2


def test_length_matching_takes_the_nearest_count_left_and_never_a_text_twice() -> None:
    pool = ["a", "a b", "a b c", "x y z", "p q r s t u"]
    picks = length_matched(pool, ["1 2 3", "1 2 3", "1 2 3", "1"], seed=3)
    assert len(set(picks)) == 4
    assert sorted(picks[:2]) == [2, 3]  # both 3-word texts first
    assert picks[2] == 1 and picks[3] == 0  # then the nearest count left (2 words), and the exact 1
    assert picks == length_matched(pool, ["1 2 3", "1 2 3", "1 2 3", "1"], seed=3)


def test_attack_numbers_on_a_known_case() -> None:
    out = loss_threshold_attack(np.array([0.1, 0.2, 0.3, 2.0]), np.array([1.0, 1.5, 2.5, 3.0]))
    assert out["auc"] == pytest.approx(14 / 16)  # 14 of 16 member/non-member pairs ordered right
    assert out["advantage"] == pytest.approx(0.75)
    fpr, tpr = np.array([0.0, 0.005, 0.02, 1.0]), np.array([0.1, 0.3, 0.8, 1.0])
    assert tpr_at_fpr(fpr, tpr, 0.01) == 0.3 and tpr_at_fpr(fpr, tpr, 0.001) == 0.1


def test_tied_scores_keep_the_best_threshold_under_1pct_fpr() -> None:
    # 250 non-members, so two may score at or above the threshold. Three tied groups, each of one
    # non-member and two members, at 1.0, 0.9 and 0.8: the ROC runs straight through (1/250, 2/100),
    # (2/250, 4/100) and (3/250, 6/100). A threshold of 0.9 (FPR 0.8%) finds 4% of the members;
    # roc_curve's default thinning drops that collinear middle point, which once left 2%.
    members = np.r_[[1.0, 1.0, 0.9, 0.9, 0.8, 0.8], np.full(94, -1.0)]
    nonmembers = np.r_[[1.0, 0.9, 0.8], np.full(247, -2.0)]
    assert attack_scores(members, nonmembers)["tpr_at_1pct_fpr"] == pytest.approx(4 / 100)
    assert auc_and_tpr_at_1pct(members, nonmembers)[1] == pytest.approx(4 / 100)


def test_vectorised_auc_and_tpr_match_the_roc_curve_with_ties() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        n1, n0 = rng.integers(10, 300, size=2)
        decimals = int(rng.integers(0, 3))  # rounding makes ties within and across the two groups
        m, n = np.round(rng.normal(0.3, 1, n1), decimals), np.round(rng.normal(0, 1, n0), decimals)
        auc, tpr = auc_and_tpr_at_1pct(m, n)
        out = attack_scores(m, n)
        assert auc == pytest.approx(out["auc"]) and tpr == pytest.approx(out["tpr_at_1pct_fpr"])


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_more_texts() -> None:
    rng = np.random.default_rng(2)
    small = attack_scores(rng.normal(0.5, 1, 200), rng.normal(0, 1, 200))
    large = attack_scores(rng.normal(0.5, 1, 3000), rng.normal(0, 1, 3000))
    for out in (small, large):
        for key in ("auc", "tpr_at_1pct_fpr"):
            lo, hi = out["ci95"][key]
            assert lo <= out[key] <= hi and lo < hi
    width = {
        k: [o["ci95"][k][1] - o["ci95"][k][0] for o in (small, large)] for k in ("auc", "tpr_at_1pct_fpr")
    }
    assert width["auc"][1] < width["auc"][0] / 2 and width["tpr_at_1pct_fpr"][1] < width["tpr_at_1pct_fpr"][0]
    # coverage: the true AUC of N(0.5, 1) against N(0, 1) is Φ(0.5 / √2) = 0.6382, and a 95% interval
    # should hold it about 38 times in 40 (at least 34 with probability 0.997)
    held = sum(
        lo < 0.6382 < hi
        for lo, hi in (
            bootstrap_ci(rng.normal(0.5, 1, 300), rng.normal(0, 1, 300), seed=i)["auc"] for i in range(40)
        )
    )
    assert held >= 34
    same = bootstrap_ci(np.arange(50.0), np.arange(50.0) - 5)
    assert same == bootstrap_ci(np.arange(50.0), np.arange(50.0) - 5)  # seeded


def test_too_little_data_is_an_error_naming_the_field() -> None:
    train, held = _data(40, "train"), _data(5, "held")
    clf = MemorisingClassifier({}, False)
    with pytest.raises(DataError, match=r"audit\.privacy: membership inference needs at least 10"):
        audit_privacy(clf, train, held, PrivacyAuditConfig())


class LossClassifier:
    """Gives each text's true label the probability exp(-loss[text])."""

    labels = ["negative", "positive"]  # noqa: RUF012

    def __init__(self, loss: dict[str, float], label: dict[str, int]) -> None:
        self.loss, self.label = loss, label

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for t in texts:
            p = float(np.exp(-self.loss[t]))
            out.append([p, 1 - p] if self.label[t] == 0 else [1 - p, p])
        return np.array(out)


def test_reference_model_calibration_finds_members_that_a_loss_threshold_misses() -> None:
    """Texts differ widely in difficulty; training lowers a member's loss by a little. The threshold
    on loss barely sees it; the loss difference to a reference model sees it fully."""
    rng = np.random.default_rng(0)
    train, held = _data(300, "train"), _data(300, "held")
    difficulty = {t: float(rng.uniform(0.05, 0.69)) for t in train.texts + held.texts}
    labels = dict(zip(train.texts + held.texts, [*train.labels.tolist(), *held.labels.tolist()], strict=True))
    target = {t: d - (0.04 if t in set(train.texts) else 0.0) for t, d in difficulty.items()}
    res = audit_privacy(
        LossClassifier(target, labels),
        train,
        held,
        PrivacyAuditConfig(sample=300, reference_data="ref.csv"),
        reference=LossClassifier(difficulty, labels),
        reference_texts={"unrelated text"},
    )
    assert res.metrics["mia_auc"] < 0.65
    assert res.metrics["mia_calibrated_auc"] > 0.99
    assert res.metrics["mia_calibrated_tpr_at_1pct_fpr"] > 0.9
    assert res.details["calibrated"]["reference_data"] == "ref.csv"


def test_texts_the_reference_model_trained_on_are_left_out() -> None:
    train, held = _data(50, "train"), _data(50, "held")
    clf = MemorisingClassifier({}, False)
    res = audit_privacy(
        clf, train, held, PrivacyAuditConfig(sample=50), reference=clf, reference_texts=set(held.texts[:20])
    )
    assert res.details["membership"]["members"] == 30  # 50 held-out texts less the 20 in the reference set


def test_canaries_are_distinct_reproducible_and_inserted_as_asked() -> None:
    from fairtune.config import CanaryConfig
    from fairtune.data import make_canaries

    cfg = CanaryConfig(per_repeat=5, repeats=[16, 1, 4], references=100, seed=3)
    can = make_canaries(cfg, ["negative", "positive"])
    assert can.texts == make_canaries(cfg, ["negative", "positive"]).texts
    assert len(set(can.texts)) == len(can.texts) == 115
    assert can.repeats.count(0) == 100 and can.repeats.count(16) == 5
    assert set(can.labels) == {0, 1}
    train = _data(10, "train")
    out = can.insert_into(train)
    assert len(out) == 10 + 5 * (1 + 4 + 16)
    assert out.texts.count(can.texts[can.repeats.index(16)]) == 16
    assert can.summary() == {"inserted": 15, "rows_added": 105, "references": 100, "repeats": [1, 4, 16]}


def test_exposure_ranks_against_the_references() -> None:
    from fairtune.data import exposure

    ref = np.arange(1, 8, dtype=float)  # 7 references: log2(8) = 3 bits at most
    np.testing.assert_allclose(exposure(np.array([0.5, 3.5, 100.0]), ref), [3.0, 1.0, 0.0])


@pytest.mark.parametrize("memorises", [True, False])
def test_canary_exposure_is_high_only_for_a_model_that_memorises(memorises: bool) -> None:
    from fairtune.config import CanaryConfig
    from fairtune.data import make_canaries

    can = make_canaries(
        CanaryConfig(per_repeat=10, repeats=[1, 16], references=255), ["negative", "positive"]
    )
    loss = {
        t: (0.001 * (1 if r == 16 else 50) if memorises and r else 0.1 + (zlib.crc32(t.encode()) % 997) / 997)
        for t, r in zip(can.texts, can.repeats, strict=True)
    }
    clf = LossClassifier(loss, dict(zip(can.texts, can.labels, strict=True)))
    train, held = _data(40, "train"), _data(40, "held")
    res = audit_privacy(clf_with_fallback(clf, train, held), train, held, PrivacyAuditConfig(), canaries=can)
    detail = res.details["canaries"]
    assert detail["max_possible_exposure"] == pytest.approx(8.0)
    assert 1.0 < detail["no_memorisation_exposure"] < 2.0
    if memorises:
        assert res.metrics["canary_exposure_r16"] == pytest.approx(8.0)
        assert detail["by_repeats"]["16"]["ranked_first"] == 10
        assert res.findings[-1]["severity"] == "warning"
    else:
        assert res.metrics["canary_exposure_r16"] < 4.0
        assert res.findings[-1]["severity"] == "info"


def clf_with_fallback(clf: LossClassifier, *datasets: LabelledData) -> LossClassifier:
    """Extend `clf` with a middling loss for the membership part's texts."""
    for d in datasets:
        for t, y in zip(d.texts, d.labels.tolist(), strict=True):
            clf.loss.setdefault(t, 0.5)
            clf.label.setdefault(t, y)
    return clf


def test_dp_guarantee_is_put_beside_the_measured_figures() -> None:
    train, held = _data(40, "train"), _data(40, "held")
    dp = {"epsilon_spent": 1.0, "delta": 1e-5, "accountant": "prv", "epsilon": 1.0}
    res = audit_privacy(MemorisingClassifier({}, False), train, held, PrivacyAuditConfig(), dp=dp)
    bound = res.details["guarantee"]["tpr_bound_at_1pct_fpr"]
    assert bound == pytest.approx(np.e * 0.01 + 1e-5)
    assert res.metrics["dp_epsilon"] == 1.0
    assert "no membership test can find more than 2.7%" in res.findings[-1]["message"]
