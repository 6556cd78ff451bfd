"""model/README.md: a Hugging Face model card (YAML metadata + Mitchell et al. 2019 sections).

Facts come from the run. Where the run holds no fact yet, the card says so plainly.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

from fairtune._io import atomic_write_text
from fairtune.config import FairtuneConfig
from fairtune.models._resolve import HUB_ID
from fairtune.report._gates import gate_status

BASE_MODELS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}
NOT_STATED = "Not stated: the run's config leaves `card.{field}` empty, so this card makes no claim."


def card_titles() -> dict[str, str]:
    """The audit metrics the card's model-index lists, with the names it shows: those an auditor declares
    with a title (timings describe the machine, not the model, and have none)."""
    from fairtune.audits import auditors

    return {f"{a}.{m.name}": m.title for a, spec in auditors().ordered() for m in spec.metrics if m.title}


def key_metrics(auditor: str) -> tuple[str, ...]:
    """The numbers the card's ethical considerations show for `auditor` (all are in report.html)."""
    from fairtune.audits import auditors

    return tuple(m.name for m in auditors()[auditor].metrics if m.key)


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
    """A result per titled metric that the run's audits measured (4 significant digits)."""
    measured = {
        f"{a['name']}.{key}": value
        for a in audits
        for key, value in a["metrics"].items()
        if isinstance(value, int | float)
    }
    titles = card_titles()
    return [_audit_result(m, measured[m], title) for m, title in titles.items() if m in measured]


def _audit_result(metric: str, value: float, title: str) -> EvalResult:
    audit = metric.split(".", 1)[0]
    return _result(
        dataset_type=f"fairtune-{audit}-audit",
        dataset_name=f"fairtune {audit} audit",
        metric_type=metric,
        metric_value=float(f"{value:.4g}"),
        metric_name=title,
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
            keys = key_metrics(name) or tuple(metrics)
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


def _evaluation_sections(ctx: dict[str, Any]) -> list[str]:
    """The card's evaluation data, metrics, gates and ethical considerations: what an audit found."""
    ev = ctx["eval"]
    per_class = "\n".join(
        f"| {n} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
        for n, r in ev["per_class"].items()
    )
    gate_lines = [
        f"- `{g['metric']}`: {gate_status(g)}"
        + ("" if g["value"] is None else f" (value {round(g['value'], 4)})")
        for g in ctx["gates"]["gates"]
    ]
    return [
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
    ]


def render_audit_card_section(ctx: dict[str, Any]) -> str:
    """The model-card sections an audit of any model supports (`fairtune audit --model`): evaluation,
    metrics, gates, ethical considerations. The rest of a card (training, intended use) is the owner's."""
    return "\n".join(
        [
            f"<!-- fairtune audit of {ctx['model_name']}, {ctx['generated']} -->",
            "",
            *_evaluation_sections(ctx),
        ]
    )


def render_model_card(cfg: FairtuneConfig, ctx: dict[str, Any]) -> str:
    ev = ctx["eval"]
    front = _metadata(cfg, ctx).to_yaml()
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
        *_evaluation_sections(ctx),
        "## Caveats and recommendations",
        "",
        f"- The numbers above come from one eval set ({ev['source']}); they say nothing about other domains.",
        "- Probabilities are only as calibrated as the ECE above shows; check calibration on your own data.",
        *([MEAN_POOLING_CAVEAT] if cfg.model.pooling == "mean" else []),
        *([WORD_RECOGNITION_CAVEAT] if cfg.model.word_recognition is not None else []),
        "",
    ]
    return f"---\n{front}\n---\n\n" + "\n".join(sections)


WORD_RECOGNITION_CAVEAT = (
    "- Texts pass a spelling front end before the model (`model.word_recognition`, "
    "`word_recognition.json` in this folder): words outside its dictionary of training words are "
    "corrected to the likeliest nearby word, given their neighbours. fairtune's loaders "
    "(`fairtune.models.classifier(folder)`, `predict`, `serve`) apply it, and every number above was "
    "measured with it; a plain `transformers` pipeline skips it. It also holds the training texts' "
    "frequent words and word pairs with their counts."
)


def write_model_card(model_dir: Path, cfg: FairtuneConfig, ctx: dict[str, Any]) -> Path:
    path = model_dir / "README.md"
    atomic_write_text(path, render_model_card(cfg, ctx))
    return path
