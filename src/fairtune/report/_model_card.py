"""model/README.md: a Hugging Face model card (YAML metadata + Mitchell et al. 2019 sections).

Facts come from the run. Where the run holds no fact yet, the card says so plainly.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

from fairtune._io import atomic_write_text
from fairtune.config import FAIRNESS_DIMENSIONS, FairtuneConfig
from fairtune.models._resolve import HUB_ID
from fairtune.report._gates import gate_status

BASE_MODELS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}
NOT_STATED = "Not stated: the run's config leaves `card.{field}` empty, so this card makes no claim."


#: The gateable audit metrics the card's model-index lists, with the names it shows. Timings
#: (`robustness.attack_seconds`) describe the machine, not the model, and are left out.
AUDIT_METRIC_NAMES = {
    "fairness.flip_rate": "Counterfactual identity swaps: flip rate",
    "fairness.mean_abs_delta": "Counterfactual identity swaps: mean |Δp|",
    "fairness.p95_abs_delta": "Counterfactual identity swaps: 95th percentile |Δp|",
    **{
        f"fairness.flip_rate_{d}": f"Counterfactual identity swaps: flip rate ({d.replace('_', ' ')})"
        for d in FAIRNESS_DIMENSIONS
    },
    "fairness.template_spread_max": "Template probes: largest spread of group mean scores",
    "fairness.identity_fped": "Identity terms: false positive equality difference",
    "fairness.identity_fned": "Identity terms: false negative equality difference",
    "fairness.identity_auc_spread": "Identity terms: AUC spread",
    "fairness.identity_auc_min": "Identity terms: lowest AUC",
    "fairness.identity_fpr": "Identity terms: false positive rate",
    "fairness.identity_fnr": "Identity terms: false negative rate",
    "fairness.eec_gender_gap": "EEC gender: mean |female - male score|",
    "fairness.eec_race_gap": "EEC race: mean |African-American - European score|",
    "fairness.eec_gender_mean_diff": "EEC gender: mean female - male score",
    "fairness.eec_race_mean_diff": "EEC race: mean African-American - European score",
    "fairness.eec_gender_share_over_001": "EEC gender: share of pairs differing by more than 0.01",
    "fairness.eec_race_share_over_001": "EEC race: share of pairs differing by more than 0.01",
    "fairness.eec_lexicon_overlap": "EEC terms found in the swap lexicons",
    "fairness.group_accuracy_min": "Groups: lowest accuracy",
    "fairness.group_accuracy_gap": "Groups: accuracy gap",
    "fairness.demographic_parity_difference": "Groups: demographic parity difference",
    "fairness.equalized_odds_difference": "Groups: equalized odds difference",
    "robustness.invariance_failure_rate": "Invariance tests: failure rate (mean over perturbations)",
    "robustness.invariance_failure_rate_max": "Invariance tests: failure rate (worst perturbation)",
    "robustness.attack_success_rate": "Word-substitution attack: success rate",
    "robustness.accuracy_under_attack": "Word-substitution attack: accuracy under attack",
    "robustness.clean_accuracy": "Word-substitution attack: clean accuracy of the sample",
    "robustness.queries_per_example": "Word-substitution attack: queries per example",
    "privacy.mia_auc": "Membership inference (loss threshold): AUC",
    "privacy.mia_tpr_at_1pct_fpr": "Membership inference (loss threshold): TPR at 1% FPR",
    "privacy.mia_tpr_at_01pct_fpr": "Membership inference (loss threshold): TPR at 0.1% FPR",
    "privacy.mia_advantage": "Membership inference (loss threshold): advantage (max TPR - FPR)",
    "privacy.mia_calibrated_auc": "Membership inference (calibrated): AUC",
    "privacy.mia_calibrated_tpr_at_1pct_fpr": "Membership inference (calibrated): TPR at 1% FPR",
    "privacy.mia_calibrated_tpr_at_01pct_fpr": "Membership inference (calibrated): TPR at 0.1% FPR",
    "privacy.dp_epsilon": "DP-SGD: epsilon spent",
    **{
        f"privacy.canary_exposure_r{r}": f"Canaries inserted {r}x: exposure" for r in (1, 2, 4, 8, 16, 32, 64)
    },
}

#: Every result is on the hub's text-classification task.
_result = partial(EvalResult, task_type="text-classification", task_name="Text Classification")


def _base_model(cfg: FairtuneConfig) -> str:
    return BASE_MODELS.get(cfg.model.name, cfg.model.name)


def _eval_results(ev: dict[str, Any]) -> list[EvalResult]:
    on_eval = partial(
        _result, dataset_type="text-classification", dataset_name=ev["source"], dataset_split="eval"
    )
    return [
        on_eval(metric_type="accuracy", metric_value=round(ev["accuracy"], 4), metric_name="Accuracy"),
        on_eval(
            metric_type="f1",
            metric_value=round(ev["macro_f1"], 4),
            metric_name="Macro F1",
            metric_args={"average": "macro"},
        ),
        on_eval(
            metric_type="ece",
            metric_value=round(ev["ece"], 4),
            metric_name="Expected calibration error (15 bins)",
        ),
    ]


def _audit_results(audits: list[dict[str, Any]]) -> list[EvalResult]:
    """A result per metric of AUDIT_METRIC_NAMES that the run's audits measured (4 significant digits)."""
    measured = {
        f"{a['name']}.{key}": value
        for a in audits
        for key, value in a["metrics"].items()
        if isinstance(value, int | float)
    }
    return [_audit_result(m, measured[m]) for m in AUDIT_METRIC_NAMES if m in measured]


def _audit_result(metric: str, value: float) -> EvalResult:
    audit = metric.split(".", 1)[0]
    return _result(
        dataset_type=f"fairtune-{audit}-audit",
        dataset_name=f"fairtune {audit} audit",
        metric_type=metric,
        metric_value=float(f"{value:.4g}"),
        metric_name=AUDIT_METRIC_NAMES[metric],
    )


def _metadata(cfg: FairtuneConfig, ctx: dict[str, Any]) -> ModelCardData:
    base = _base_model(cfg)
    hub_base = HUB_ID.match(base) and not Path(base).exists()  # the hub's field takes hub ids only
    return ModelCardData(
        language=[cfg.card.language],
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["fairtune", "text-classification"] + (["lora", "peft"] if cfg.model.lora else []),
        base_model=base if hub_base else None,
        license=cfg.card.license or None,
        model_name=cfg.name,
        eval_results=_eval_results(ctx["eval"]) + _audit_results(ctx["audits"]),
    )


def _training_section(cfg: FairtuneConfig, ctx: dict[str, Any]) -> list[str]:
    tr, card = ctx["train"], ctx["data_card"]
    lines = [
        f"- Source: `{cfg.data.train or cfg.data.hf_dataset}` (text column `{cfg.data.text_column}`, "
        f"label column `{cfg.data.label_column}`); {tr.get('n_train', '?')} rows used."
    ]
    if card:
        bal = ", ".join(f"{k} {v['share']:.1%}" for k, v in card["label_balance"]["train"].items())
        lines.append(f"- Label balance: {bal}.")
        lines += [
            f"- Data card ({f['severity']}): {f['message']}"
            for f in card["findings"]
            if f["severity"] != "info"
        ]
    else:
        lines.append(
            "- No data card was written for this run (`fairtune data CONFIG`), so duplicates, leakage "
            "and lengths were not checked."
        )
    lines.append(
        f"- Procedure: fine-tuned {cfg.trained_weights()} of `{cfg.model.name}` with AdamW, "
        f"lr {cfg.train.lr}, batch {cfg.train.batch_size}, {tr.get('steps', '?')} steps, "
        f"{tr.get('precision', '?')}, seed {cfg.seed}."
    )
    dp = tr.get("privacy")
    if dp:
        lines.append(
            f"- Differential privacy: DP-SGD through {dp['library']}, (ε = {dp['epsilon_spent']:.2f}, "
            f"δ = {dp['delta']:.2g}) by the {dp['accountant']} accountant; Poisson sampling at rate "
            f"{dp['sample_rate']:.4g}, each text's gradient clipped to norm {dp['max_grad_norm']:g}, noise "
            f"multiplier {dp['noise_multiplier']:.3g}, {dp['steps_taken']} steps. The guarantee covers each "
            f"training text; it does not cover the data the base model (`{cfg.model.name}`) was trained on, "
            "which must be public."
        )
    if tr.get("canaries"):
        c = tr["canaries"]
        lines.append(
            f"- Canaries: {c['inserted']} made-up texts with random secrets were added "
            f"({c['rows_added']} rows, repeated {', '.join(map(str, c['repeats']))} times) to measure "
            "memorisation; see the privacy audit."
        )
    return lines


#: The numbers the model card shows per audit (all of them are in report.html and audit/<name>.json).
KEY_METRICS = {
    "fairness": (
        "flip_rate",
        "eec_gender_gap",
        "eec_race_gap",
        "template_spread_max",
        "demographic_parity_difference",
        "equalized_odds_difference",
    ),
    "robustness": ("invariance_failure_rate", "attack_success_rate", "accuracy_under_attack"),
    "privacy": ("mia_auc", "mia_tpr_at_1pct_fpr", "mia_calibrated_auc", "dp_epsilon", "canary_exposure_r16"),
    "explain": (
        "ig_comprehensiveness",
        "ig_sufficiency",
        "occlusion_comprehensiveness",
        "occlusion_sufficiency",
        "random_comprehensiveness",
        "random_sufficiency",
    ),
}


def _ethics_section(ctx: dict[str, Any]) -> list[str]:
    audits = {a["name"]: a for a in ctx["audits"]}
    lines = []
    for name, what in (
        ("fairness", "fairness-related harms across identity groups"),
        ("robustness", "robustness to perturbations and adversarial substitutions"),
        ("explain", "faithfulness of token explanations"),
        ("privacy", "leakage of training data"),
    ):
        if name in audits:
            metrics = audits[name]["metrics"]
            keys = KEY_METRICS.get(name, tuple(metrics))
            shown = ", ".join(
                f"{k} = {metrics[k]:.4g}" for k in keys if isinstance(metrics.get(k), int | float)
            )
            lines.append(
                f"- {what.capitalize()}: assessed; {shown}. See report.html for the data and method."
            )
        else:
            lines.append(f"- {what.capitalize()}: not assessed for this model yet.")
    for m in ctx.get("mitigations", []):
        n = len(m.get("seeds", [1]))
        moved = ", ".join(
            f"{r['metric']} {r['parent']:.4g} -> {r['child']:.4g} ({r.get('verdict', 'one seed')})"
            for r in m["comparison"]
            if r["metric"] != "eval.ece"
        )
        lines.append(
            f"- Mitigation tried ({m['kind']}, {m['method']}, {n} seed{'s' if n > 1 else ''}): a variant was "
            f"trained in `{m['child']}`; {moved}. This model is the unmitigated parent."
        )
    return lines


MEAN_POOLING_CAVEAT = (
    "- The head reads the mean of the last layer's token states, not the [CLS] vector "
    "(`model.pooling: mean`; config.json says `fairtune_pooling: mean`). Load this folder with "
    "`fairtune.models.load_trained(folder)` or "
    "`fairtune.models.BertForMeanPooledSequenceClassification.from_pretrained(folder)`: "
    "`AutoModelForSequenceClassification` would build a [CLS] head with an untrained pooler."
)


def render_model_card(cfg: FairtuneConfig, ctx: dict[str, Any]) -> str:
    ev = ctx["eval"]
    front = _metadata(cfg, ctx).to_yaml()
    per_class = "\n".join(
        f"| {n} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
        for n, r in ev["per_class"].items()
    )
    gates = ctx["gates"]["gates"]
    gate_lines = [
        f"- `{g['metric']}`: {gate_status(g)}"
        + ("" if g["value"] is None else f" (value {round(g['value'], 4)})")
        for g in gates
    ]
    sections = [
        f"# {cfg.name}",
        "",
        f"A text classifier with labels {', '.join(f'`{n}`' for n in ev['labels'])}, fine-tuned by fairtune "
        f"from `{_base_model(cfg)}`.",
        "",
        "## Intended use",
        "",
        cfg.card.intended_use or NOT_STATED.format(field="intended_use"),
        "",
        "## Out-of-scope use",
        "",
        cfg.card.out_of_scope or NOT_STATED.format(field="out_of_scope"),
        "",
        "## Training data",
        "",
        *_training_section(cfg, ctx),
        "",
        "## Evaluation data",
        "",
        f"- {ev['source']}: {ev['n']} labelled texts.",
        "",
        "## Metrics",
        "",
        f"Accuracy {ev['accuracy']:.4f}, macro-F1 {ev['macro_f1']:.4f}, expected calibration error "
        f"{ev['ece']:.4f} (15 equal-width bins).",
        "",
        "| label | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        per_class,
        "",
        *(["Gates:", "", *gate_lines, ""] if gate_lines else []),
        "## Ethical considerations",
        "",
        *_ethics_section(ctx),
        "",
        "## Caveats and recommendations",
        "",
        f"- The numbers above come from one eval set ({ev['source']}); they say nothing about other domains.",
        "- Probabilities are only as calibrated as the ECE above shows; check calibration on your own data.",
        *([MEAN_POOLING_CAVEAT] if cfg.model.pooling == "mean" else []),
        "",
    ]
    return f"---\n{front}\n---\n\n" + "\n".join(sections)


def write_model_card(model_dir: Path, cfg: FairtuneConfig, ctx: dict[str, Any]) -> Path:
    path = model_dir / "README.md"
    atomic_write_text(path, render_model_card(cfg, ctx))
    return path
