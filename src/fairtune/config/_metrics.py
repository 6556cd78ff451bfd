"""The metric names a gate may use: the stages' own (below) and every registered auditor's declarations."""

from __future__ import annotations

import difflib

#: source -> metric names that stage writes. `eval.*` come from metrics.json, `data.*` from the data
#: card, `train.*` from training, `drift.*` from `fairtune monitor` (monitor/<time>.json). Auditors
#: declare theirs when they register (`fairtune.audits`).
STAGE_METRICS: dict[str, tuple[str, ...]] = {
    "eval": ("accuracy", "macro_f1", "ece", "loss"),
    "train": ("samples_per_second", "train_seconds", "dp_epsilon"),
    "data": ("train_eval_overlap", "train_exact_duplicates", "train_near_duplicates", "long_texts"),
    "drift": (
        "n",
        "mmd",
        "mmd_p_value",
        "flagged",
        "length_mean",
        "length_shift",
        "length_p_value",
        "oov_rate",
        "oov_shift",
        "unk_rate",
        "identity_shift",
        "label_shift_tv",
        "label_p_value",
        "confidence",
        "confidence_shift",
        "confidence_p_value",
        "accuracy",
        "macro_f1",
        "ece",
        "accuracy_drop",
        "macro_f1_drop",
    ),
}


def known_metrics() -> dict[str, tuple[str, ...]]:
    """source -> metric names: the stages', then each registered auditor's."""
    from fairtune.audits import auditors

    return {**STAGE_METRICS, **{name: tuple(spec.metric_names()) for name, spec in auditors().ordered()}}


def all_metric_names() -> list[str]:
    return [f"{src}.{m}" for src, names in known_metrics().items() for m in names]


def unknown_metric_message(name: str) -> str | None:
    """None if `name` is a known metric; otherwise what is wrong and the closest known names (not all of
    them: there are about a hundred)."""
    known = all_metric_names()
    if name in known:
        return None
    guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean '{guess[0]}'?" if guess else ""
    src = name.split(".", 1)[0]
    sources = known_metrics()
    if src not in sources:
        return (
            f"unknown metric source '{src}' in gate '{name}': no stage or auditor of this version writes it."
            f"{hint} Sources: {', '.join(sources)}."
        )
    near = difflib.get_close_matches(name, [m for m in known if m.startswith(src + ".")], n=6, cutoff=0.0)
    return f"unknown metric '{name}'.{hint} Close {src} metrics: {', '.join(near)}."
