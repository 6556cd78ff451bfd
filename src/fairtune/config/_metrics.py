"""The metric names a gate may use. An auditor adds its names here when it lands."""

from __future__ import annotations

import difflib

from fairtune.config._schema import EXPLAIN_METHODS, FAIRNESS_DIMENSIONS

#: What the explanation audit writes per method, as `explain.<method>_<name>`.
EXPLAIN_METHOD_METRICS = (
    "comprehensiveness",
    "sufficiency",
    "comprehensiveness_ratio",
    "sufficiency_ratio",
    "stability",
    "seconds_per_explanation",
)

#: source -> metric names that source writes. `eval.*` come from metrics.json, `data.*` from the
#: data card, `train.*` from training; each auditor `<name>` writes audit/<name>.json["metrics"].
KNOWN_METRICS: dict[str, tuple[str, ...]] = {
    "eval": ("accuracy", "macro_f1", "ece", "loss"),
    "train": ("samples_per_second", "train_seconds", "dp_epsilon"),
    "data": ("train_eval_overlap", "train_exact_duplicates", "train_near_duplicates", "long_texts"),
    "fairness": (
        "flip_rate",
        "mean_abs_delta",
        "p95_abs_delta",
        *(f"flip_rate_{d}" for d in FAIRNESS_DIMENSIONS),
        "template_spread_max",
        "identity_fped",
        "identity_fned",
        "identity_auc_spread",
        "identity_auc_min",
        "identity_fpr",
        "identity_fnr",
        "eec_gender_gap",
        "eec_race_gap",
        "eec_gender_mean_diff",
        "eec_race_mean_diff",
        "eec_gender_share_over_001",
        "eec_race_share_over_001",
        "eec_lexicon_overlap",
        "group_accuracy_min",
        "group_accuracy_gap",
        "demographic_parity_difference",
        "equalized_odds_difference",
    ),
    "robustness": (
        "invariance_failure_rate",
        "invariance_failure_rate_max",
        "attack_success_rate",
        "accuracy_under_attack",
        "clean_accuracy",
        "queries_per_example",
        "attack_seconds",
    ),
    "explain": (
        *(f"{m}_{k}" for m in EXPLAIN_METHODS for k in EXPLAIN_METHOD_METRICS),
        "random_comprehensiveness",
        "random_sufficiency",
        "ig_convergence_delta",
    ),
    "mlm_bias": (
        "stereotype_score",
        *(
            f"stereotype_score_{t}"
            for t in (
                "race_color",
                "gender",
                "socioeconomic",
                "nationality",
                "religion",
                "age",
                "sexual_orientation",
                "physical_appearance",
                "disability",
            )
        ),
    ),
    "privacy": (
        "mia_auc",
        "mia_tpr_at_1pct_fpr",
        "mia_tpr_at_01pct_fpr",
        "mia_advantage",
        "mia_calibrated_auc",
        "mia_calibrated_tpr_at_1pct_fpr",
        "mia_calibrated_tpr_at_01pct_fpr",
        "dp_epsilon",
        *(f"canary_exposure_r{r}" for r in (1, 2, 4, 8, 16, 32, 64)),
    ),
}


def all_metric_names() -> list[str]:
    return [f"{src}.{m}" for src, names in KNOWN_METRICS.items() for m in names]


def unknown_metric_message(name: str) -> str | None:
    """None if `name` is a known metric; otherwise what is wrong and the closest known names (not all of
    them: there are about a hundred)."""
    known = all_metric_names()
    if name in known:
        return None
    guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean '{guess[0]}'?" if guess else ""
    src = name.split(".", 1)[0]
    if src not in KNOWN_METRICS:
        return (
            f"unknown metric source '{src}' in gate '{name}': no stage or auditor of this version writes it."
            f"{hint} Sources: {', '.join(KNOWN_METRICS)}."
        )
    near = difflib.get_close_matches(name, [m for m in known if m.startswith(src + ".")], n=6, cutoff=0.0)
    return f"unknown metric '{name}'.{hint} Close {src} metrics: {', '.join(near)}."
