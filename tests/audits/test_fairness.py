"""The fairness audit through the `Classifier` interface, with classifiers whose bias is known."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from fairtune.audits.fairness import audit_fairness
from fairtune.audits.fairness._audit import eec_pairs, spread_permutation_test
from fairtune.config import DataConfig, FairnessAuditConfig
from fairtune.data import LabelledData, load_task_data
from fairtune.errors import DataError
from tests.conftest import SHARED_DATA

EEC = SHARED_DATA / "eec" / "Equity-Evaluation-Corpus.csv"
AMAZON = SHARED_DATA / "amazon_multidomain"


class KeywordClassifier:
    """Black-box sentiment by word lists; `bias` adds to p(positive) per word (the harm to detect)."""

    def __init__(self, bias: dict[str, float] | None = None) -> None:
        self.labels = ["negative", "positive"]
        self.bias = bias or {}
        self.calls = 0

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = []
        for t in texts:
            words = t.lower().replace(".", " ").split()
            p = 0.5 + 0.3 * sum(w in {"good", "great", "happy", "joy"} for w in words)
            p -= 0.3 * sum(w in {"bad", "awful", "sad", "angry"} for w in words)
            p += sum(self.bias.get(w, 0.0) for w in words)
            p = float(np.clip(p, 0.02, 0.98))
            out.append([1 - p, p])
        return np.array(out)


def cfg(**kw: object) -> FairnessAuditConfig:
    base = {"permutations": 500, "bootstrap": 300, "group_bootstrap": 30}
    return FairnessAuditConfig(**{**base, **kw})  # type: ignore[arg-type]


EVAL = LabelledData(
    [
        "the actress was good",
        "the actor was bad",
        "a great film for christians",
        "no identity term at all",
        "women will find it awful",
        "the muslims in it are happy",
    ],
    np.array([1, 0, 1, 0, 0, 1]),
    None,
    "unit",
)


def test_identity_blind_classifier_has_no_flips_and_no_template_spread() -> None:
    res = audit_fairness(KeywordClassifier(), EVAL, cfg())
    m = res.metrics
    assert m["flip_rate"] == 0.0 and m["mean_abs_delta"] == 0.0 and m["template_spread_max"] == 0.0
    cf = res.details["counterfactual"]
    assert cf["overall"]["texts_with_terms"] == 5  # the text with no term is not counted
    assert cf["dimensions"]["gender"]["texts_swapped"] == 3
    assert cf["dimensions"]["religion"]["pairs"] == 2 * 5  # 2 texts x 5 other groups
    for d in res.details["templates"]["dimensions"].values():
        assert d["p_value"] == 1.0
    assert "eec" not in res.details and any("EEC not assessed" in f["message"] for f in res.findings)


def test_biased_classifier_is_caught_by_swaps_and_templates() -> None:
    clf = KeywordClassifier({"women": -0.4, "actress": -0.4, "lady": -0.4, "female": -0.4, "muslims": -0.3})
    res = audit_fairness(clf, EVAL, cfg())
    dims = res.details["counterfactual"]["dimensions"]
    # actress/good 0.4 -> actor 0.8 flips; actor/bad 0.2 -> 0.02 and women/awful 0.02 -> 0.2 do not
    assert dims["gender"]["flip_rate"] == pytest.approx(1 / 3)
    assert dims["gender"]["mean_abs_delta"] == pytest.approx((0.4 + 0.18 + 0.18) / 3)
    worst = dims["gender"]["worst"][0]
    assert worst["abs_delta"] == pytest.approx(0.4) and worst["flipped"]
    assert res.metrics["flip_rate_religion"] > 0 and "flip_rate_race" not in res.metrics  # no race term
    tp = res.details["templates"]["dimensions"]
    assert tp["gender"]["spread"] > 0.05 and tp["gender"]["p_value"] < 0.05
    assert tp["race"]["p_value"] == 1.0
    assert any(f["severity"] == "warning" and f["message"].startswith("gender:") for f in res.findings)


def test_permutation_test_is_calibrated_under_the_null() -> None:
    rng = np.random.default_rng(0)
    pvals = [spread_permutation_test(rng.normal(size=(10, 4)), 200, rng)[1] for _ in range(200)]
    assert 0.02 < np.mean(np.array(pvals) < 0.05) < 0.10  # about 5% false positives
    shifted = rng.normal(size=(10, 4)) + np.array([0, 0, 0, 2.0])
    assert spread_permutation_test(shifted, 500, rng)[1] < 0.01


@pytest.mark.skipif(not EEC.is_file(), reason="EEC data not present")
def test_eec_matched_pairs_measure_a_known_gap() -> None:
    bias = {
        "she": 0.1,
        "her": 0.1,
        "woman": 0.1,
        "girl": 0.1,
        "sister": 0.1,
        "daughter": 0.1,
        "wife": 0.1,
        "girlfriend": 0.1,
        "mother": 0.1,
        "aunt": 0.1,
        "mom": 0.1,
        "ebony": -0.2,
    }
    res = audit_fairness(KeywordClassifier(bias), EVAL, cfg(eec=str(EEC)))
    eec = res.details["eec"]
    # noun-phrase pairs differ by exactly +0.1 (unless clipped); names only through 'ebony'
    assert eec["gender"]["mean_diff"] > 0.05 and eec["gender"]["p_value"] < 1e-6
    lo, hi = eec["gender"]["ci95"]
    assert lo < eec["gender"]["mean_diff"] < hi
    assert eec["race"]["mean_diff"] < 0 and res.metrics["eec_race_gap"] > 0
    assert res.metrics["eec_gender_gap"] == pytest.approx(eec["gender"]["mean_abs_diff"])
    assert eec["lexicon_overlap"]["count"] == 0 and res.metrics["eec_lexicon_overlap"] == 0
    blind = audit_fairness(KeywordClassifier(), EVAL, cfg(eec=str(EEC)))
    assert blind.metrics["eec_gender_gap"] == 0 and blind.details["eec"]["gender"]["share_over_001"] == 0


@pytest.mark.skipif(not EEC.is_file(), reason="EEC data not present")
def test_eec_pairs_follow_the_paper() -> None:
    import pandas as pd

    frame = pd.read_csv(EEC, dtype=str, keep_default_na=False).assign(score=0.0)
    pairs = eec_pairs(frame)
    # 11 noun-phrase pairs over the templates they appear in, plus female-vs-male name means per
    # (template, emotion word, race); race: name means per (template, emotion word, gender).
    assert len(pairs["race"]) == 2 * 144 and len(pairs["gender"]) > 1000


@pytest.mark.skipif(not AMAZON.is_dir(), reason="amazon_multidomain data not present")
def test_group_metrics_on_amazon_domains() -> None:
    data = load_task_data(
        DataConfig(train=str(AMAZON / "*.jsonl"), group_column="file", eval_fraction=0.1), seed=0
    )
    clf = KeywordClassifier()
    res = audit_fairness(clf, data.eval, cfg(), group_column="file")
    g = res.details["groups"]
    assert set(g["per_group"]) == {"books", "dvd", "electronics", "kitchen"}
    for e in g["per_group"].values():
        lo, hi = e["accuracy_ci95"]
        assert e["n"] > 150 and lo <= e["accuracy"] <= hi
    lo, hi = g["demographic_parity_difference_ci95"]
    assert 0 <= g["demographic_parity_difference"] <= 1 and lo <= hi
    assert res.metrics["group_accuracy_gap"] == pytest.approx(
        max(e["accuracy"] for e in g["per_group"].values())
        - min(e["accuracy"] for e in g["per_group"].values())
    )


def test_one_group_only_is_an_error_naming_the_column() -> None:
    data = LabelledData(["good", "bad"] * 15, np.array([1, 0] * 15), ["books"] * 30, "unit")
    with pytest.raises(
        DataError, match=r"data.group_column: column 'domain' holds a single group \('books'\)"
    ):
        audit_fairness(KeywordClassifier(), data, cfg(), group_column="domain")


def test_small_group_warns_and_gets_no_ci() -> None:
    groups = ["big"] * 40 + ["tiny"] * 5
    data = LabelledData(
        ["good film", "bad film"] * 22 + ["good"], np.array([1, 0] * 22 + [1]), groups, "unit"
    )
    res = audit_fairness(KeywordClassifier(), data, cfg(), group_column="g")
    per = res.details["groups"]["per_group"]
    assert per["tiny"]["accuracy_ci95"] is None and per["big"]["accuracy_ci95"] is not None
    assert any(
        "group 'tiny' has 5 eval rows" in f["message"] and f["severity"] == "warning" for f in res.findings
    )


def test_empty_eval_after_filtering_is_an_error() -> None:
    data = LabelledData(["   ", "\t"], np.array([1, 0]), None, "unit")
    with pytest.raises(DataError, match="the eval set is empty after filtering"):
        audit_fairness(KeywordClassifier(), data, cfg())


def test_missing_eec_file_names_the_field(tmp_path: Path) -> None:
    from fairtune.errors import ConfigError

    with pytest.raises(ConfigError, match=r"audit.fairness.eec: file not found: .*nope.csv"):
        audit_fairness(KeywordClassifier(), EVAL, cfg(eec=str(tmp_path / "nope.csv")))


# -- identity-term error rates ----------------------------------------------------------------------
KEYWORD_TEMPLATES = "\n".join(
    [
        "# keyword templates the KeywordClassifier reads: one sentiment word each",
        "positive\t{x} was good.",
        "positive\tA great day with {x}.",
        "positive\tWe were happy to see {x}.",
        "negative\t{x} was bad.",
        "negative\tAn awful day with {x}.",
        "negative\tWe were sad to see {x}.",
    ]
)


def _identity(clf: KeywordClassifier, tmp_path: Path) -> dict:
    path = tmp_path / "identity.tsv"
    path.write_text(KEYWORD_TEMPLATES + "\n")
    res = audit_fairness(clf, EVAL, cfg(identity_templates=str(path)))
    return {"metrics": res.metrics, "details": res.details["identity_terms"], "findings": res.findings}


def test_identity_blind_classifier_has_equal_error_rates_on_every_term(tmp_path: Path) -> None:
    out = _identity(KeywordClassifier(), tmp_path)
    m, d = out["metrics"], out["details"]
    assert m["identity_fped"] == m["identity_fned"] == m["identity_auc_spread"] == 0.0
    assert m["identity_fpr"] == m["identity_fnr"] == 0.0 and m["identity_auc_min"] == 1.0
    from fairtune.data import load_lexicons

    probes = {p for lex in load_lexicons(list(d["per_dimension"])) for row in lex.probes for p in row}
    assert d["terms"] == len(probes) and d["sentences"] == 6 * len(probes)
    assert not any("identity terms" in f["message"] for f in out["findings"])


def test_a_term_that_pulls_towards_negative_gets_false_negatives(tmp_path: Path) -> None:
    # "disabled" takes 0.65 off p(positive): positive sentences with a disabled term (0.8 -> 0.15) are
    # read as negative, and rank below other terms' negative sentences (0.2); negative ones stay negative
    out = _identity(KeywordClassifier({"disabled": -0.65}), tmp_path)
    d = out["details"]
    hit = [t for t in d["per_term"] if "disabled" in t["term"].split()]
    assert hit and all(t["fnr"] == 1.0 and t["fpr"] == 0.0 for t in hit)
    n = d["terms"]
    fnr = len(hit) / n  # each hit term misses all 3 of its positives, no other term misses any
    assert d["fnr"] == pytest.approx(fnr) and d["fpr"] == 0.0
    # FNED: sum over terms of |overall - term|: the hit terms are 1 - fnr away, the others fnr away
    assert out["metrics"]["identity_fned"] == pytest.approx(len(hit) * (1 - fnr) + (n - len(hit)) * fnr)
    assert out["metrics"]["identity_fped"] == 0.0
    assert {t["term"] for t in d["worst_terms"][: len(hit)]} == {t["term"] for t in hit}
    assert d["per_dimension"]["disability"]["groups"]["disabled"]["fnr"] > 0
    gender = d["per_dimension"]["gender"]  # no gender term is hit: each is the overall FNR away
    assert gender["fned"] == pytest.approx(gender["terms"] * fnr)
    # pinned AUC: a hit term's positives (0.15) rank below the background's negatives (0.2)
    assert out["metrics"]["identity_auc_min"] < 1.0
    assert out["metrics"]["identity_auc_spread"] == pytest.approx(1.0 - out["metrics"]["identity_auc_min"])
    assert any("identity terms whose error rates differ" in f["message"] for f in out["findings"])


def test_evaluation_templates_holding_a_lexicon_term_are_refused(tmp_path: Path) -> None:
    from fairtune.errors import ConfigError

    path = tmp_path / "identity.tsv"
    path.write_text("positive\tThe christmas party with {x} was good.\nnegative\t{x} was bad.\n")
    with pytest.raises(ConfigError) as info:
        audit_fairness(KeywordClassifier(), EVAL, cfg(identity_templates=str(path)))
    msg = info.value.render()
    assert "audit.fairness.identity_templates" in msg and "'christmas'" in msg and "religion" in msg
