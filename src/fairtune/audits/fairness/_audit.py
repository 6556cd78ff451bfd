"""The fairness audit: counterfactual swaps, template probes, the EEC and group metrics.

Everything goes through `Classifier.predict_proba`, so the same audit runs on a PyTorch model, an
ONNX model or a served endpoint. Each part is a function that returns a JSON-ready dict; the
auditor at the bottom assembles them into one `AuditResult`.
"""

from __future__ import annotations

import re
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fairtune.audits._result import AuditResult, prediction_changes, usable_eval
from fairtune.audits.fairness._identity import identity_error_rates, load_identity_templates
from fairtune.config import FairnessAuditConfig
from fairtune.data import PRONOUN_WORDS, LabelledData, Lexicon, load_lexicons, make_swappers
from fairtune.data._templates import Template, fill, positive_index, terms_in_templates
from fairtune.errors import (
    AUDIT_EMPTY_EVAL,
    EEC_COLUMNS,
    EEC_MISSING,
    GROUP_ONE_GROUP,
    ConfigError,
    DataError,
)
from fairtune.models import Classifier

EEC_COLUMNS_NEEDED = ("Sentence", "Template", "Person", "Gender", "Race", "Emotion word")
#: The EEC's gendered noun phrases, male -> female (Kiritchenko & Mohammad 2018, Table 2).
EEC_NOUN_PAIRS = {
    "he": "she",
    "him": "her",
    "this man": "this woman",
    "this boy": "this girl",
    "my brother": "my sister",
    "my son": "my daughter",
    "my husband": "my wife",
    "my boyfriend": "my girlfriend",
    "my father": "my mother",
    "my uncle": "my aunt",
    "my dad": "my mom",
}


def bootstrap_ci(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> list[float]:
    """Percentile 95% CI of the mean."""
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    return [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]


# -- 1. counterfactual swaps on the eval texts ------------------------------------------------------
def counterfactual_pairs(
    texts: list[str], lexicons: list[Lexicon], *, pronouns: bool
) -> list[tuple[str, int, str, str, str]]:
    """Every swap the audit makes: (dimension, text index, from group, to group, counterfactual text)."""
    pairs = []
    for lex, swapper in zip(lexicons, make_swappers(lexicons, pronouns=pronouns), strict=True):
        for i, text in enumerate(texts):
            for a, b, cf in swapper.counterfactuals(text):
                pairs.append((lex.dimension, i, lex.groups[a], lex.groups[b], cf))
    return pairs


def counterfactual_swaps(
    clf: Classifier, texts: list[str], lexicons: list[Lexicon], *, pronouns: bool, worst: int
) -> dict[str, Any]:
    """Per dimension: texts swapped, flip rate and |Δp(label)| over (text, counterfactual) pairs."""
    pairs = counterfactual_pairs(texts, lexicons, pronouns=pronouns)
    used = sorted({p[1] for p in pairs})
    p_orig = np.zeros((len(texts), len(clf.labels)))
    if used:
        p_orig[used] = clf.predict_proba([texts[i] for i in used])
    p_cf = clf.predict_proba([p[4] for p in pairs]) if pairs else np.zeros((0, len(clf.labels)))
    dims: dict[str, Any] = {}
    all_flips: list[bool] = []
    all_deltas: list[float] = []
    for lex in lexicons:
        rows = [k for k, p in enumerate(pairs) if p[0] == lex.dimension]
        entry: dict[str, Any] = {"groups": lex.groups, "texts_swapped": 0, "pairs": len(rows)}
        if rows:
            idx = np.array([pairs[k][1] for k in rows])
            lab, delta, flips = prediction_changes(p_orig, p_cf[rows], idx)
            order = np.argsort(-delta)[:worst]
            entry.update(
                texts_swapped=len(set(idx.tolist())),
                flip_rate=float(flips.mean()),
                mean_abs_delta=float(delta.mean()),
                p95_abs_delta=float(np.quantile(delta, 0.95)),
                worst=[
                    {
                        "text": texts[pairs[rows[o]][1]],
                        "counterfactual": pairs[rows[o]][4],
                        "swap": f"{pairs[rows[o]][2]} -> {pairs[rows[o]][3]}",
                        "label": clf.labels[int(lab[o])],
                        "p": float(p_orig[idx[o], lab[o]]),
                        "p_counterfactual": float(p_cf[rows[o], lab[o]]),
                        "abs_delta": float(delta[o]),
                        "flipped": bool(flips[o]),
                    }
                    for o in order
                ],
            )
            all_flips += flips.tolist()
            all_deltas += delta.tolist()
        dims[lex.dimension] = entry
    overall: dict[str, Any] = {"texts": len(texts), "texts_with_terms": len(used), "pairs": len(pairs)}
    if pairs:
        overall.update(
            flip_rate=float(np.mean(all_flips)),
            mean_abs_delta=float(np.mean(all_deltas)),
            p95_abs_delta=float(np.quantile(all_deltas, 0.95)),
        )
    return {"overall": overall, "dimensions": dims}


def _scores(clf: Classifier, texts: list[str], pos: int) -> np.ndarray:
    """p(positive), rounded to 1e-6: smaller differences are float noise (padding, batch order), and
    left unrounded they make a tiny spread look 'significant' to a permutation or t-test."""
    return np.round(clf.predict_proba(texts)[:, pos].astype(np.float64), 6)


# -- 2. template probes -----------------------------------------------------------------------------
def read_templates() -> list[str]:
    text = resources.files("fairtune.audits.fairness").joinpath("templates.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def spread_permutation_test(
    scores: np.ndarray, n_perm: int, rng: np.random.Generator
) -> tuple[float, float, np.ndarray]:
    """scores: (blocks, groups). Spread = max - min of group means; groups are permuted within blocks."""
    means = scores.mean(axis=0)
    spread = float(means.max() - means.min())
    perms = rng.permuted(np.broadcast_to(scores, (n_perm, *scores.shape)), axis=2).mean(axis=1)
    null = perms.max(axis=1) - perms.min(axis=1)
    p = float((1 + np.sum(null >= spread - 1e-12)) / (1 + n_perm))
    return spread, p, means


def template_probes(
    clf: Classifier, lexicons: list[Lexicon], pos: int, n_perm: int, rng: np.random.Generator
) -> dict[str, Any]:
    templates = read_templates()
    problems = terms_in_templates(
        [
            Template("neutral", t, i, "fairtune/audits/fairness/templates.txt")
            for i, t in enumerate(templates)
        ],
        lexicons,
        "audit.fairness.lexicon_dir",
    )
    if problems:
        raise ConfigError(problems)
    out: dict[str, Any] = {"templates": len(templates), "dimensions": {}}
    for lex in lexicons:
        if not lex.probes:
            continue
        sentences = [fill(t, phrase) for probe in lex.probes for t in templates for phrase in probe]
        p = _scores(clf, sentences, pos).reshape(len(lex.probes) * len(templates), len(lex.groups))
        spread, p_value, means = spread_permutation_test(p, n_perm, rng)
        out["dimensions"][lex.dimension] = {
            "groups": lex.groups,
            "mean_positive": {g: float(m) for g, m in zip(lex.groups, means, strict=True)},
            "spread": spread,
            "p_value": p_value,
            "sentences": len(sentences),
            "probes": [" / ".join(row) for row in lex.probes],
        }
    return out


# -- 3. EEC -----------------------------------------------------------------------------------------
def read_eec(path: str, field: str) -> Any:
    import pandas as pd

    if not Path(path).is_file():
        raise ConfigError(EEC_MISSING.format(field=field, path=path))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in EEC_COLUMNS_NEEDED if c not in frame.columns]
    if missing:
        raise DataError(
            EEC_COLUMNS.format(path=path, missing=missing, expected=", ".join(EEC_COLUMNS_NEEDED))
        )
    return frame


def eec_pairs(frame: Any) -> dict[str, np.ndarray]:
    """Matched score differences as in Kiritchenko & Mohammad 2018: template and emotion word held fixed.

    gender: female - male, for each noun-phrase pair (she/he, my mother/my father, ...) and for the
    mean of female vs male names of the same race; race: mean of African-American vs European names
    of the same gender.
    """
    f = frame.assign(person=frame["Person"].str.strip().str.lower())
    key = ["Template", "Emotion word"]
    nouns = f[f["Race"] == ""]
    piv = nouns.pivot_table(index=key, columns="person", values="score", aggfunc="mean")
    gender: list[float] = []
    for male, female in EEC_NOUN_PAIRS.items():
        if male in piv.columns and female in piv.columns:
            gender += (piv[female] - piv[male]).dropna().tolist()
    names = f[f["Race"] != ""]
    by_gender = names.pivot_table(index=[*key, "Race"], columns="Gender", values="score", aggfunc="mean")
    if {"female", "male"} <= set(by_gender.columns):
        gender += (by_gender["female"] - by_gender["male"]).dropna().tolist()
    by_race = names.pivot_table(index=[*key, "Gender"], columns="Race", values="score", aggfunc="mean")
    race: list[float] = []
    if {"African-American", "European"} <= set(by_race.columns):
        race = (by_race["African-American"] - by_race["European"]).dropna().tolist()
    return {"gender": np.array(gender), "race": np.array(race)}


def eec_terms(frame: Any) -> set[str]:
    """Every word of the EEC's Person column (names, pronouns, the nouns in 'my mother', ...)."""
    return {w for person in frame["Person"] for w in re.findall(r"[a-z']+", person.lower())}


def lexicon_overlap(terms: set[str], lexicons: list[Lexicon], pronouns: bool) -> list[str]:
    words: set[str] = set()
    for lex in lexicons:
        for phrase in [*lex.index, *(p for row in [*lex.probes, *lex.mitigation] for p in row)]:
            words.update(re.findall(r"[a-z']+", phrase))
    if pronouns:
        words.update(PRONOUN_WORDS)
    return sorted(words & terms)


def eec_audit(clf: Classifier, frame: Any, pos: int, n_boot: int, rng: np.random.Generator) -> dict[str, Any]:
    from scipy import stats

    frame = frame.assign(score=_scores(clf, frame["Sentence"].tolist(), pos))
    out: dict[str, Any] = {"sentences": len(frame)}
    for dim, diffs in eec_pairs(frame).items():
        if len(diffs) < 2:
            out[dim] = {"pairs": len(diffs)}
            continue
        label = "female − male" if dim == "gender" else "Afr.-Am. − European"
        out[dim] = {
            "difference": label,
            "pairs": len(diffs),
            "mean_diff": float(diffs.mean()),
            "ci95": bootstrap_ci(diffs, n_boot, rng),
            "p_value": float(stats.ttest_1samp(diffs, 0.0).pvalue) if np.ptp(diffs) > 0 else 1.0,
            "mean_abs_diff": float(np.abs(diffs).mean()),
            "share_over_001": float(np.mean(np.abs(diffs) > 0.01)),
        }
    return out


# -- 4. group metrics (Fairlearn) -------------------------------------------------------------------
def group_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: list[str],
    pos: int,
    cfg: FairnessAuditConfig,
    field: str,
    column: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """Per-group accuracy, demographic-parity and equalized-odds differences, with bootstrap CIs."""
    from fairlearn.metrics import (
        MetricFrame,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    g = np.array(groups, dtype=object)
    levels, counts = np.unique(g, return_counts=True)
    if len(levels) < 2:
        raise DataError(GROUP_ONE_GROUP.format(field=field, column=column, group=str(levels[0])))
    warnings = [
        f"group {lvl!r} has {n} eval rows (< audit.fairness.min_group_rows = {cfg.min_group_rows}); "
        "its numbers are shown without a confidence interval"
        for lvl, n in zip(levels, counts, strict=True)
        if n < cfg.min_group_rows
    ]
    yt, yp = (y_true == pos).astype(int), (y_pred == pos).astype(int)
    mf = MetricFrame(
        metrics={
            "accuracy": accuracy_score,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=yt,
        y_pred=yp,
        sensitive_features=g,
        n_boot=cfg.group_bootstrap,
        ci_quantiles=[0.025, 0.975],
        random_state=cfg.seed,
    )
    acc_true = MetricFrame(
        metrics=accuracy_score, y_true=y_true, y_pred=y_pred, sensitive_features=g
    ).by_group  # multi-class accuracy (the binary one above is for the positive label)
    lo, hi = mf.by_group_ci
    small = {lvl for lvl, n in zip(levels, counts, strict=True) if n < cfg.min_group_rows}
    per_group: dict[str, dict[str, Any]] = {}
    for lvl, n in zip(levels, counts, strict=True):
        per_group[str(lvl)] = {
            "n": int(n),
            "accuracy": float(acc_true[lvl]),
            "selection_rate": float(mf.by_group.loc[lvl, "selection_rate"]),
            "accuracy_ci95": None
            if lvl in small
            else [float(lo.loc[lvl, "accuracy"]), float(hi.loc[lvl, "accuracy"])],
        }
    d_lo, d_hi = mf.difference_ci()
    rng = np.random.default_rng(cfg.seed)
    eo_boot = []
    for _ in range(cfg.group_bootstrap):
        idx = np.concatenate(
            [rng.choice(np.flatnonzero(g == lvl), size=n) for lvl, n in zip(levels, counts, strict=True)]
        )
        eo_boot.append(equalized_odds_difference(yt[idx], yp[idx], sensitive_features=g[idx]))
    accs = [float(v["accuracy"]) for v in per_group.values()]
    return {
        "column": column,
        "positive_label_index": pos,
        "per_group": per_group,
        "accuracy_min": float(min(accs)),
        "accuracy_gap": float(max(accs) - min(accs)),
        "demographic_parity_difference": float(mf.difference()["selection_rate"]),
        "demographic_parity_difference_ci95": [float(d_lo["selection_rate"]), float(d_hi["selection_rate"])],
        "equalized_odds_difference": float(equalized_odds_difference(yt, yp, sensitive_features=g)),
        "equalized_odds_difference_ci95": [
            float(np.quantile(eo_boot, 0.025)),
            float(np.quantile(eo_boot, 0.975)),
        ],
        "bootstrap": cfg.group_bootstrap,
    }, warnings


# -- 5. identity-term error rates (see _identity.py) ------------------------------------------------
def _identity_part(
    res: AuditResult, clf: Classifier, lexicons: list[Lexicon], pos: int, cfg: FairnessAuditConfig
) -> None:
    if len(clf.labels) != 2:
        res.finding("info", "identity-term error rates not assessed: they need a task with two labels.")
        return
    templates = load_identity_templates(cfg.identity_templates, lexicons)
    it = identity_error_rates(clf, lexicons, templates, pos, seed=cfg.seed)
    res.details["identity_terms"] = it
    res.metrics.update(
        identity_fped=it["fped"],
        identity_fned=it["fned"],
        identity_auc_spread=it["auc_spread"],
        identity_fpr=it["fpr"],
        identity_fnr=it["fnr"],
    )
    if it["auc_min"] is not None:
        res.metrics["identity_auc_min"] = it["auc_min"]
    flagged = [t for t in it["worst_terms"] if max_gap(t, it) >= cfg.identity_max_gap]
    if flagged:
        shown = "; ".join(
            f"'{t['term']}' ({t['dimension']}): FPR {t['fpr']:.2f}, FNR {t['fnr']:.2f}" for t in flagged[:5]
        )
        res.finding(
            "warning",
            f"identity terms whose error rates differ from the overall FPR {it['fpr']:.2f} / FNR "
            f"{it['fnr']:.2f} by at least {cfg.identity_max_gap:.2f} on {it['templates']} labelled template "
            f"sentences each: {shown}.",
        )


def max_gap(term: dict[str, Any], overall: dict[str, Any]) -> float:
    return max(abs(term["fpr"] - overall["fpr"]), abs(term["fnr"] - overall["fnr"]))


# -- the auditor ------------------------------------------------------------------------------------
def audit_fairness(
    clf: Classifier,
    data: LabelledData,
    cfg: FairnessAuditConfig,
    *,
    group_column: str | None = None,
    mitigation_lexicons: list[Lexicon] | None = None,
    mitigation_pronouns: bool = False,
) -> AuditResult:
    """Assess fairness-related harms of `clf` on `data` (the run's eval split) and the EEC."""
    t0 = time.perf_counter()
    res = AuditResult("fairness")
    data, _ = usable_eval(data, cfg.max_eval_rows, "fairness")
    rng = np.random.default_rng(cfg.seed)
    pos = positive_index(clf.labels, cfg.positive_label, "audit.fairness.positive_label")
    lexicons = load_lexicons(cfg.dimensions, cfg.lexicon_dir, "audit.fairness")
    res.details["lexicons"] = {
        lex.dimension: {
            "path": lex.path,
            "groups": lex.groups,
            "terms": len(lex.index),
            "sources": lex.sources,
        }
        for lex in lexicons
    }
    res.details["positive_label"] = clf.labels[pos]
    res.details["eval"] = {"source": data.source, "rows": len(data)}

    cf = counterfactual_swaps(clf, data.texts, lexicons, pronouns=cfg.pronouns, worst=cfg.worst_examples)
    res.details["counterfactual"] = cf
    ov = cf["overall"]
    if ov["pairs"]:
        res.metrics.update(
            flip_rate=ov["flip_rate"], mean_abs_delta=ov["mean_abs_delta"], p95_abs_delta=ov["p95_abs_delta"]
        )
    for dim, entry in cf["dimensions"].items():
        if entry["pairs"]:
            res.metrics[f"flip_rate_{dim}"] = entry["flip_rate"]
            res.examples += [{"kind": "counterfactual", "dimension": dim, **w} for w in entry["worst"][:2]]
            if entry["flip_rate"] > 0:
                res.finding(
                    "warning",
                    f"{dim}: swapping identity terms changed the prediction in {entry['flip_rate']:.1%} of "
                    f"{entry['pairs']} pairs ({entry['texts_swapped']} eval texts); mean |Δp| "
                    f"{entry['mean_abs_delta']:.4f}.",
                )
        else:
            res.finding(
                "info", f"{dim}: no eval text mentions a term of this lexicon; not assessed on eval data."
            )

    tp = template_probes(clf, lexicons, pos, cfg.permutations, rng)
    res.details["templates"] = tp
    if tp["dimensions"]:
        res.metrics["template_spread_max"] = max(d["spread"] for d in tp["dimensions"].values())
        for dim, d in tp["dimensions"].items():
            if d["p_value"] < 0.05 and d["spread"] >= cfg.min_spread:
                res.finding(
                    "warning",
                    f"{dim}: template probes score groups differently (spread of mean "
                    f"p({clf.labels[pos]}) {d['spread']:.4f}, permutation p = {d['p_value']:.4f}).",
                )

    if cfg.identity_terms:
        _identity_part(res, clf, lexicons, pos, cfg)

    if cfg.eec:
        frame = read_eec(cfg.eec, "audit.fairness.eec")
        eec = eec_audit(clf, frame, pos, cfg.bootstrap, rng)
        overlap = lexicon_overlap(
            eec_terms(frame),
            mitigation_lexicons if mitigation_lexicons is not None else lexicons,
            mitigation_pronouns,
        )
        eec["path"] = cfg.eec
        eec["lexicon_overlap"] = {"count": len(overlap), "terms": overlap}
        res.details["eec"] = eec
        res.metrics["eec_lexicon_overlap"] = float(len(overlap))
        for dim in ("gender", "race"):
            d = eec.get(dim, {})
            if "mean_abs_diff" in d:
                res.metrics[f"eec_{dim}_gap"] = d["mean_abs_diff"]
                res.metrics[f"eec_{dim}_mean_diff"] = d["mean_diff"]
                res.metrics[f"eec_{dim}_share_over_001"] = d["share_over_001"]
        if overlap:
            res.finding(
                "fail",
                f"{len(overlap)} EEC term(s) appear in the mitigation lexicons ({', '.join(overlap[:10])}); "
                "the EEC then does not measure generalisation beyond the word lists.",
            )
    else:
        res.finding("info", "EEC not assessed: audit.fairness.eec is not set.")

    if data.groups is not None:
        y_pred = clf.predict_proba(data.texts).argmax(axis=1)
        present = [i for i, g in enumerate(data.groups) if g not in ("", "nan", "None")]
        if not present:
            raise DataError(
                AUDIT_EMPTY_EVAL.format(
                    what="data.group_column", auditor="fairness", detail="no eval row has a group value"
                )
            )
        gm, warns = group_metrics(
            data.labels[present],
            y_pred[present],
            [data.groups[i] for i in present],
            pos,
            cfg,
            "data.group_column",
            group_column,
        )
        res.details["groups"] = gm
        res.metrics.update(
            group_accuracy_min=gm["accuracy_min"],
            group_accuracy_gap=gm["accuracy_gap"],
            demographic_parity_difference=gm["demographic_parity_difference"],
            equalized_odds_difference=gm["equalized_odds_difference"],
        )
        for w in warns:
            res.finding("warning", w)
    res.seconds = time.perf_counter() - t0
    return res
