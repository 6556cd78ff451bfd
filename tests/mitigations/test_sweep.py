"""The sweep's choice and its argument, without training (the end-to-end sweep is in
test_fairness_workflow.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairtune._rundir import RunDir
from fairtune.errors import FairtuneError
from fairtune.mitigations._sweep import choose, parse_sweep

HARMS = ["fairness.identity_fped", "fairness.flip_rate"]
BASELINE = {"eval.accuracy": 0.90, "fairness.identity_fped": 1.0, "fairness.flip_rate": 0.2}


def point(value: float, accuracy: float, fped: float, flips: float) -> dict:
    metrics = {"eval.accuracy": accuracy, "fairness.identity_fped": fped, "fairness.flip_rate": flips}
    return {"value": value, "metrics": metrics}


def test_the_least_harmful_value_within_the_accuracy_budget_is_chosen() -> None:
    points = [
        point(0.3, 0.899, 0.8, 0.2),  # harm (0.8 + 1.0) / 2 = 0.9
        point(1.0, 0.897, 0.5, 0.1),  # 0.5: the least harmful within 0.5 points
        point(3.0, 0.880, 0.1, 0.0),  # least harmful of all, but 2 points less accurate
    ]
    got = choose(points, BASELINE, HARMS, budget=0.5)
    assert got["value"] == 1.0 and "within 0.5 points" in got["rule"]
    assert [p["within_budget"] for p in points] == [True, True, False]
    assert points[1]["relative_harm"] == pytest.approx(0.5)
    assert points[2]["accuracy_drop_points"] == pytest.approx(2.0)


def test_with_no_value_within_the_budget_the_most_accurate_is_chosen_and_the_rule_says_so() -> None:
    points = [point(1.0, 0.85, 0.1, 0.0), point(3.0, 0.87, 0.5, 0.1)]
    got = choose(points, BASELINE, HARMS, budget=1.0)
    assert got["value"] == 3.0 and "no candidate within 1 points" in got["rule"]


def test_with_no_harm_in_the_baseline_the_most_accurate_value_within_the_budget_is_chosen() -> None:
    base = {"eval.accuracy": 0.9, "fairness.identity_fped": 0.0, "fairness.flip_rate": 0.0}
    points = [point(1.0, 0.898, 0.1, 0.0), point(2.0, 0.91, 0.3, 0.1), point(3.0, 0.8, 0.0, 0.0)]
    got = choose(points, base, HARMS, budget=0.5)
    assert got["value"] == 2.0 and "shows none of the harms" in got["rule"]
    assert points[1]["within_budget"] and not points[2]["within_budget"]  # a gain is within any budget


def test_a_harm_the_baseline_does_not_show_does_not_count() -> None:
    base = {**BASELINE, "fairness.flip_rate": 0.0}
    points = [point(1.0, 0.9, 0.6, 0.5), point(2.0, 0.9, 0.4, 0.9)]
    assert choose(points, base, HARMS, budget=0.5)["value"] == 2.0  # flips: 0 in the baseline, ignored


@pytest.mark.parametrize(
    ("text", "kind", "share", "message"),
    [
        ("clp_lambda=1", "fairness", 0.1, "is not KEY=V1,V2,... with at least two different numbers"),
        ("clp_lambda=1,1", "fairness", 0.1, "at least two different numbers"),
        ("clp_lambda=a,b", "fairness", 0.1, "Pass e.g. --sweep clp_lambda=0.3,1,3"),
        ("epsilon=0.1,0.2", "fairness", 0.1, "'epsilon' cannot be swept with --fairness"),
        ("template_pairs=1.5,4", "fairness", 0.1, "template_pairs takes whole numbers"),
        ("clp_lambda=1,2", "fairness", 0.9, "--validation-share: 0.9 is not a share"),
        ("clp_lambda=1,nan", "fairness", 0.1, "at least two different numbers"),
        ("clp_lambda=0.1,0.1000001", "fairness", 0.1, "at least two different numbers"),  # one run name
    ],
)
def test_bad_sweeps_are_refused_naming_the_flag(text: str, kind: str, share: float, message: str) -> None:
    with pytest.raises(FairtuneError) as err:
        parse_sweep(text, kind, share)
    assert message in str(err.value) and err.value.exit_code == 2


def test_a_sweep_parses_to_its_key_and_typed_values() -> None:
    assert parse_sweep("clp_lambda=0.3, 1,3", "fairness", 0.1) == ("clp_lambda", [0.3, 1.0, 3.0])
    assert parse_sweep("template_pairs=4,16,4", "fairness", 0.1) == ("template_pairs", [4, 16])
    assert parse_sweep("a2t_share=0.1,0.25", "robustness", 0.2) == ("a2t_share", [0.1, 0.25])


def test_a_logit_pairing_weight_names_its_child_where_the_method_pairs() -> None:
    """Two weights live side by side (before, the second was refused as another config in the first's
    folder); CDA and identity balance pair no logits, so the weight names nothing there. The same for
    identity balance's sentences per phrase."""
    from fairtune.workflows import mitigate as m

    assert m.child_name("fairness", "all", {"template_pairs": 16}) == "fairness-all-tp16"
    assert m.child_name("fairness", "all", {"template_pairs": 16, "clp_lambda": 0.25}) == (
        "fairness-all-tp16-clp0.25"
    )
    assert m.child_name("fairness", "clp", {"clp_lambda": 3.0}) == "fairness-clp-clp3"
    assert m.child_name("fairness", "cda", {"clp_lambda": 3.0}) == "fairness-cda"
    assert m.child_name("fairness", "balance", {"clp_lambda": 3.0}) == "fairness-balance"
    assert m.child_name("fairness", "all", {"balance_per_phrase": 8}) == "fairness-all-bpp8"
    assert m.child_name("fairness", "clp", {"balance_per_phrase": 8}) == "fairness-clp"  # adds no sentences
    tie = {"template_pairs": 16, "clp_lambda": 0.25, "tie_pronouns": True}
    assert m.child_name("fairness", "all", tie) == "fairness-all-tp16-clp0.25-tie-pron"
    assert m.child_name("fairness", "tie", {"tie": True}) == "fairness-tie"
    assert m.child_name("fairness", "tie", {"tie_pronouns": True}) == "fairness-tie-pron"
    # a child of some lexicons lives beside the child of all of them
    assert m.child_name("fairness", "cda", {"dimensions": ["gender", "race"]}) == "fairness-cda-gender-race"


def test_a2t_settings_name_their_child_and_a_sweep_adds_no_second_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child with other A2T settings lives beside the default one (before, it landed on its folder and
    was refused as another config); the chosen child of an A2T sweep is the run of that value."""
    from fairtune.config import build_config
    from fairtune.workflows import mitigate as m

    assert m.child_name("robustness", "a2t", {}) == "robustness-a2t"
    assert m.child_name("robustness", "both", {"a2t_share": 0.25, "a2t_start": 0.5, "epsilon": 0.2}) == (
        "robustness-both-eps0.2-a2t0.25-start0.5"
    )
    assert m.child_name("robustness", "adv", {"a2t_share": 0.25}) == "robustness-adv"  # adv runs no A2T
    assert m.child_name("robustness", "both", {"synonym_share": 0.5}) == "robustness-both-syn0.5"
    assert m.child_name("robustness", "both", {"a2t_ranking": "gradient"}) == "robustness-both-grad"
    assert m.child_name("robustness", "a2t", {"a2t_perturbations": "all"}) == "robustness-a2t-pertall"
    assert m.child_name("robustness", "both", {"a2t_consistency": 4.0}) == "robustness-both-kl4"
    pcfg = build_config(
        {"name": "p", "output_dir": str(tmp_path), "data": {"train": "t.csv", "eval": "e.csv"}}
    )
    parent = RunDir(tmp_path / "p")
    monkeypatch.setattr(m, "_sweep", lambda *a, **k: {"chosen": 0.25})
    kw: dict = {"overwrite": False, "show_progress": False, "log": print}
    cfg, _ = m._child_after_sweep(
        parent, pcfg, ("robustness", "a2t", {}), ("a2t_share", [0.1, 0.25]), 0.1, **kw
    )
    assert cfg.name == "robustness-a2t-a2t0.25" and cfg.train.attack.share == 0.25
    syn = m.child_config(pcfg, parent.root, "robustness", "both", {"synonym_share": 0.5})
    assert syn.name == "robustness-both-syn0.5" and syn.train.attack.synonym_share == 0.5
    assert syn.train.attack.share == 0.125 and syn.train.adversarial is not None  # the rest as in both
    grad = m.child_config(pcfg, parent.root, "robustness", "a2t", {"a2t_ranking": "gradient"})
    assert grad.name == "robustness-a2t-grad" and grad.train.attack.ranking == "gradient"
    every = m.child_config(pcfg, parent.root, "robustness", "both", {"a2t_perturbations": "all"})
    assert every.name == "robustness-both-pertall" and every.train.attack.perturbations == "all"
    kl = m.child_config(pcfg, parent.root, "robustness", "a2t", {"a2t_consistency": 4.0})
    assert kl.name == "robustness-a2t-kl4" and kl.train.attack.consistency == 4.0
    monkeypatch.setattr(m, "_sweep", lambda *a, **k: {"chosen": 3.0})
    choice = ("fairness", "clp", {"dimensions": ["gender"]})
    cfg, _ = m._child_after_sweep(parent, pcfg, choice, ("clp_lambda", [1.0, 3.0]), 0.1, **kw)
    assert cfg.name == "fairness-clp-clp3-gender"  # named after the value, as --clp-lambda 3's child is


def test_a_run_is_audited_again_when_stale_or_for_the_reason_given_and_the_log_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale audit says why it is stale; a current one is audited only with a reason (--reaudit, a
    child's runs), and the log gives that reason, not --reaudit where nobody asked for it."""
    import fairtune.audits as audits
    import fairtune.workflows.mitigate as m

    audited: list[Path] = []
    monkeypatch.setattr(m, "stage", lambda name: lambda root, **kw: audited.append(root))
    lines: list[str] = []
    for stale, again in (
        (None, None),
        ("none yet", None),
        (None, m.REAUDIT_CHILD),
        ("none yet", m.REAUDIT_ASKED),
    ):
        monkeypatch.setattr(audits, "stale_reason", lambda root, kind, s=stale: s)
        m._audit_unless_current(tmp_path, "robustness", again, lines.append)
    assert audited == [tmp_path] * 3
    assert [line.rsplit(": ", 1)[1] for line in lines] == [
        "none yet)",
        "a child's runs are audited by every mitigate)",
        "none yet)",
    ]
