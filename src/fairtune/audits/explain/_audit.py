"""The explanation audit: a global token view, faithfulness (ERASER AOPC) against a random baseline,
stability, and cost per explanation, for each method."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from fairtune.audits._result import AuditResult, sample_indices, usable_eval
from fairtune.audits.explain._methods import ExplainSettings, Explanation, check_method, explain
from fairtune.audits.explain._plugin import PER_METHOD
from fairtune.audits.explain._words import Words, has_words
from fairtune.config import ExplainAuditConfig
from fairtune.data import LabelledData
from fairtune.models import Classifier

#: How each method's stability is measured (the audit reports it with the number).
STABILITY_BASIS = {
    "ig": "Spearman rank correlation of word scores, {steps} vs {alt} integration steps",
    "occlusion": "deterministic: the same text always gets the same scores, so there is no seed to vary",
    "shap": "Spearman rank correlation of word scores across two seeds",
}


def _words_of(e: Explanation) -> Words:
    text = e.text[: e.truncated_at] if e.truncated and e.truncated_at is not None else e.text
    return Words(text, tuple((int(a), int(b)) for a, b in e.spans))


def faithfulness(
    clf: Classifier,
    expls: Sequence[Explanation],
    bins: Sequence[float],
    rankings: Sequence[Sequence[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per text, ERASER's AOPC (DeYoung et al. 2020) over `bins` (shares of words, at least one word):

    comprehensiveness = p(y|x) - p(y|x without the top-k words)   (higher: the ranking found what matters)
    sufficiency       = p(y|x) - p(y|only the top-k words)        (lower: those words alone suffice)

    y is the explained class. Words are ranked by score unless `rankings` are given (the random
    baseline passes random permutations). All variants go through `predict_proba` in one call.
    """
    variants: list[str] = []
    for k, e in enumerate(expls):
        words = _words_of(e)
        order = (
            list(rankings[k]) if rankings is not None else np.argsort(-np.asarray(e.scores), kind="stable")
        )
        for b in bins:
            top = [int(i) for i in order[: max(1, math.ceil(b * len(words)))]]
            variants += [words.without(top), words.keep(top)]
    p = clf.predict_proba(variants) if variants else np.zeros((0, len(clf.labels)))
    nb = len(bins)
    comp, suff = np.zeros(len(expls)), np.zeros(len(expls))
    for k, e in enumerate(expls):
        block = p[2 * nb * k : 2 * nb * (k + 1), e.target]
        comp[k] = float(np.mean(e.probability - block[0::2]))
        suff[k] = float(np.mean(e.probability - block[1::2]))
    return comp, suff


def random_rankings(expls: Sequence[Explanation], seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(len(e.words)).tolist() for e in expls]


def rank_agreement(a: Sequence[Explanation], b: Sequence[Explanation]) -> float | None:
    """Mean Spearman correlation of the word scores of the same texts (texts of 3+ words, not constant)."""
    from scipy.stats import spearmanr

    rhos = []
    for x, y in zip(a, b, strict=True):
        if len(x.scores) >= 3 and np.ptp(x.scores) > 0 and np.ptp(y.scores) > 0:
            rhos.append(float(spearmanr(x.scores, y.scores).statistic))
    return float(np.mean(rhos)) if rhos else None


def global_tokens(
    expls: Sequence[Explanation], labels: Sequence[str], top: int, min_count: int
) -> dict[str, list[dict[str, Any]]]:
    """Per class: the words with the highest mean score toward it, over the texts explained toward it,
    among words seen at least `min_count` times. Punctuation is left out."""
    stats: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for e in expls:
        for w, s in zip(e.words, e.scores, strict=True):
            if has_words(w):
                stats[e.target][w.lower()].append(s)
    out = {}
    for t, name in enumerate(labels):
        ranked = sorted(
            ((float(np.mean(v)), w, len(v)) for w, v in stats.get(t, {}).items() if len(v) >= min_count),
            key=lambda r: (-r[0], r[1]),
        )
        out[name] = [{"word": w, "mean": m, "count": c} for m, w, c in ranked[:top]]
    return out


def _pair_examples(
    clf: Classifier,
    prior: dict[str, Any],
    kind: str,
    key: str,
    method: str,
    settings: ExplainSettings,
    n: int,
) -> list[dict[str, Any]]:
    """Explain the worst pairs another audit found (original and changed text, toward the original's
    label), so a reviewer sees which words moved."""
    picks = [x for x in prior.get("examples", []) if x.get("kind") == kind and x.get(key)][:n]
    out = []
    for x in picks:
        target = clf.labels.index(x["label"]) if x.get("label") in clf.labels else None
        texts = [x["text"], x[key]]
        if not all(has_words(t) for t in texts):
            continue
        ex = explain(clf, texts, method, settings=settings, targets=None if target is None else [target] * 2)
        out.append(
            {
                "kind": kind,
                "note": x.get("swap")
                or x.get("perturbation")
                or f"{x.get('words_changed', '?')} words changed",
                "explanations": [e.to_json() for e in ex],
            }
        )
    return out


def audit_explain(
    clf: Classifier,
    data: LabelledData,
    cfg: ExplainAuditConfig,
    *,
    prior: dict[str, dict[str, Any]] | None = None,
    log: Any = None,
) -> AuditResult:
    """`prior`: audit documents already in the run (fairness, robustness); their worst examples are
    explained for the report."""
    t0 = time.perf_counter()
    res = AuditResult("explain")
    for m in {*cfg.methods, cfg.global_method}:
        check_method(clf, m, "audit.explain.methods" if m in cfg.methods else "audit.explain.global_method")
    data, _ = usable_eval(data, None, "explain")
    usable = [i for i, t in enumerate(data.texts) if has_words(t)]
    data = data.subset(usable)
    settings = ExplainSettings(
        ig_steps=cfg.ig_steps,
        ig_max_delta=cfg.ig_max_delta,
        ig_max_steps=cfg.ig_max_steps,
        ig_internal_batch_size=cfg.ig_internal_batch_size,
        shap_max_evals=cfg.shap_max_evals,
        seed=cfg.seed,
    )
    idx = sample_indices(len(data), cfg.sample, cfg.seed)
    texts = [data.texts[i] for i in idx]
    gold = data.labels[idx]
    res.details["eval"] = {"source": data.source, "rows": len(data), "sample": len(idx), "seed": cfg.seed}
    res.details["bins"] = list(cfg.bins)
    methods: dict[str, Any] = {}
    first: list[Explanation] = []
    by_method: dict[str, list[Explanation]] = {}
    for m in cfg.methods:
        start = time.perf_counter()
        ex = explain(clf, texts, m, settings=settings)
        seconds = time.perf_counter() - start
        comp, suff = faithfulness(clf, ex, cfg.bins)
        by_method[m] = ex
        entry: dict[str, Any] = {
            "comprehensiveness": float(comp.mean()),
            "sufficiency": float(suff.mean()),
            "seconds_per_explanation": seconds / len(ex),
            "truncated": sum(e.truncated for e in ex),
        }
        if m == "ig":
            entry["convergence_delta_mean"] = float(np.mean([e.convergence_delta or 0.0 for e in ex]))
            entry["convergence_delta_max"] = float(np.max([e.convergence_delta or 0.0 for e in ex]))
            entry["steps"] = cfg.ig_steps
            entry["steps_mean"] = float(np.mean([e.steps or cfg.ig_steps for e in ex]))
            entry["max_delta"] = cfg.ig_max_delta
        methods[m] = entry
        if not first:
            first = ex
        if log:
            log(f"audit explain: {m} on {len(ex)} texts, {entry['seconds_per_explanation']:.3f} s each")
    rcomp, rsuff = faithfulness(clf, first, cfg.bins, random_rankings(first, cfg.seed))
    random_entry = {"comprehensiveness": float(rcomp.mean()), "sufficiency": float(rsuff.mean())}
    stab_n = min(len(texts), 50)
    for m, entry in methods.items():
        if m == "ig":
            alt = explain(
                clf,
                texts[:stab_n],
                m,
                settings=replace(settings, ig_steps=cfg.stability_steps, ig_max_delta=None),
            )
            entry["stability"] = rank_agreement(by_method[m][:stab_n], alt)
            entry["stability_basis"] = STABILITY_BASIS["ig"].format(
                steps=cfg.ig_steps, alt=cfg.stability_steps
            )
        elif m == "shap":
            alt = explain(clf, texts[:stab_n], m, settings=replace(settings, seed=cfg.seed + 1))
            entry["stability"] = rank_agreement(by_method[m][:stab_n], alt)
            entry["stability_basis"] = STABILITY_BASIS["shap"]
        else:
            entry["stability"] = None
            entry["stability_basis"] = STABILITY_BASIS[m]
        entry["stability_texts"] = stab_n
        entry["comprehensiveness_ratio"] = _ratio(
            entry["comprehensiveness"], random_entry["comprehensiveness"]
        )
        entry["sufficiency_ratio"] = _ratio(entry["sufficiency"], random_entry["sufficiency"])
    res.details["methods"] = methods
    res.details["random"] = random_entry

    # (a) the global view
    # The same seed, so the faithfulness sample is part of the global one and its explanations are reused.
    gidx = sample_indices(len(data), cfg.global_rows or len(data), cfg.seed)
    done = dict(zip(idx, by_method.get(cfg.global_method, []), strict=False))
    todo = [i for i in gidx if i not in done]
    fresh = explain(clf, [data.texts[i] for i in todo], cfg.global_method, settings=settings) if todo else []
    done.update(zip(todo, fresh, strict=True))
    gex = [done[i] for i in gidx]
    res.details["global"] = {
        "method": cfg.global_method,
        "texts": len(gex),
        "min_count": cfg.min_count,
        "per_class": global_tokens(gex, clf.labels, cfg.top_words, cfg.min_count),
    }

    # metrics and findings
    for m, e in methods.items():
        for k, _, _ in PER_METHOD:
            if e.get(k) is not None:
                res.metrics[f"{m}_{k}"] = float(e[k])
    res.metrics["random_comprehensiveness"] = random_entry["comprehensiveness"]
    res.metrics["random_sufficiency"] = random_entry["sufficiency"]
    if "ig" in methods:
        res.metrics["ig_convergence_delta"] = methods["ig"]["convergence_delta_mean"]
    rc, rs = random_entry["comprehensiveness"], random_entry["sufficiency"]
    for m, e in methods.items():
        faithful = e["comprehensiveness"] > rc and e["sufficiency"] < rs
        res.finding(
            "info" if faithful else "warning",
            f"{m}: removing the words it ranks highest lowers p(predicted label) by "
            f"{e['comprehensiveness']:.3f} on average (random words: {rc:.3f}); "
            f"keeping only them leaves a drop of {e['sufficiency']:.3f} (random: {rs:.3f}). "
            + (
                "Its rankings point at words the model relies on."
                if faithful
                else "It is no more faithful than random word rankings here: do not read its highlights as "
                "the model's reasons."
            ),
        )
    if "ig" in methods and methods["ig"]["convergence_delta_max"] > 0.05:
        res.finding(
            "warning",
            f"ig: the largest convergence delta is {methods['ig']['convergence_delta_max']:.3f} (probability "
            f"units); raise audit.explain.ig_steps for attributions that add up.",
        )

    # examples for the report: the most confident right and wrong predictions, and other audits' worst
    pred = np.array([e.target for e in first])
    conf = np.array([e.probability for e in first])
    for kind, ok in (("confident_correct", pred == gold), ("confident_wrong", pred != gold)):
        order = [int(i) for i in np.argsort(-conf) if ok[i]][: cfg.examples]
        res.examples += [
            {"kind": kind, "gold": clf.labels[int(gold[i])], "explanations": [first[i].to_json()]}
            for i in order
        ]
    method0 = cfg.methods[0]
    prior = prior or {}
    if cfg.examples and "fairness" in prior:
        res.examples += _pair_examples(
            clf, prior["fairness"], "counterfactual", "counterfactual", method0, settings, cfg.examples
        )
    if cfg.examples and "robustness" in prior:
        res.examples += _pair_examples(
            clf, prior["robustness"], "adversarial", "adversarial", method0, settings, cfg.examples
        )
    res.seconds = time.perf_counter() - t0
    return res


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None
