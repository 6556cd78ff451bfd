"""The robustness audit: invariance tests (CheckList INV) and a constrained word-substitution attack."""

from __future__ import annotations

import random
import time
from importlib import resources
from typing import Any

import numpy as np

from fairtune.audits._result import AuditResult, prediction_changes, sample_indices, usable_eval
from fairtune.audits.robustness._attack import AttackSettings, SentenceEncoder, WordSubstitutionAttack
from fairtune.audits.robustness._perturb import Perturbations
from fairtune.config import RobustnessAuditConfig
from fairtune.data import LabelledData
from fairtune.models import Classifier


def read_names() -> dict[str, list[str]]:
    text = resources.files("fairtune.audits.robustness").joinpath("names.tsv").read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            group, names = line.split("\t", 1)
            out[group] = names.split()
    return out


class ChosenPerturbations(Perturbations):
    """The perturbations named in the config (all when it names none)."""

    def __init__(self, cfg: RobustnessAuditConfig, wordnet: Any) -> None:
        super().__init__(wordnet, read_names(), cfg.context_before, cfg.context_after)
        self.chosen = cfg.perturbations

    def all(self) -> dict[str, Any]:
        every = super().all()
        return every if self.chosen is None else {k: every[k] for k in self.chosen if k in every}


def attack_settings(cfg: RobustnessAuditConfig) -> AttackSettings:
    return AttackSettings(
        max_change=cfg.max_change,
        min_similarity=cfg.min_similarity,
        query_budget=cfg.query_budget,
        pos_agreement=cfg.pos_agreement,
        max_candidates=cfg.max_candidates,
    )


def invariance(
    clf: Classifier, texts: list[str], perturb: Perturbations, seed: int, worst: int
) -> dict[str, Any]:
    """Per perturbation: texts it applies to, failure rate (prediction changes), mean |Δp|, worst cases."""
    fns = perturb.all()
    pairs: list[tuple[str, int, str]] = []
    for name, fn in fns.items():
        rng = random.Random(f"{seed}:{name}")
        for i, t in enumerate(texts):
            out = fn(t, rng)
            if out is not None and out != t:
                pairs.append((name, i, out))
    p_orig = clf.predict_proba(texts)
    p_new = clf.predict_proba([p[2] for p in pairs]) if pairs else np.zeros((0, p_orig.shape[1]))
    result: dict[str, Any] = {}
    for name in fns:
        rows = [k for k, p in enumerate(pairs) if p[0] == name]
        entry: dict[str, Any] = {"applied": len(rows)}
        if rows:
            idx = np.array([pairs[k][1] for k in rows])
            lab, delta, fail = prediction_changes(p_orig, p_new[rows], idx)
            order = np.argsort(-delta)[:worst]
            entry.update(
                failure_rate=float(fail.mean()),
                mean_abs_delta=float(delta.mean()),
                worst=[
                    {
                        "text": texts[int(idx[o])],
                        "perturbed": pairs[rows[o]][2],
                        "label": clf.labels[int(lab[o])],
                        "p": float(p_orig[idx[o], lab[o]]),
                        "p_perturbed": float(p_new[rows[o], lab[o]]),
                        "failed": bool(fail[o]),
                    }
                    for o in order
                ],
            )
        result[name] = entry
    return result


def audit_robustness(
    clf: Classifier,
    data: LabelledData,
    cfg: RobustnessAuditConfig,
    *,
    wordnet: Any,
    encoder: SentenceEncoder | None,
) -> AuditResult:
    t0 = time.perf_counter()
    res = AuditResult("robustness")
    data, keep = usable_eval(data, cfg.max_eval_rows, "robustness")
    res.details["eval"] = {"source": data.source, "rows": len(data)}
    if cfg.invariance:
        t1 = time.perf_counter()
        inv = invariance(clf, data.texts, ChosenPerturbations(cfg, wordnet), cfg.seed, cfg.worst_examples)
        rates = {k: v["failure_rate"] for k, v in inv.items() if v["applied"]}
        res.details["invariance"] = {"perturbations": inv, "seconds": time.perf_counter() - t1}
        if rates:
            res.metrics["invariance_failure_rate"] = float(np.mean(list(rates.values())))
            res.metrics["invariance_failure_rate_max"] = max(rates.values())
        for name, v in inv.items():
            if v["applied"] and v["failure_rate"] > 0.05:
                res.finding(
                    "warning",
                    f"{name}: the prediction changed for {v['failure_rate']:.1%} of {v['applied']} perturbed "
                    f"eval texts (mean |Δp| {v['mean_abs_delta']:.4f}).",
                )
            res.examples += [
                {"kind": "invariance", "perturbation": name, **w} for w in v.get("worst", [])[:1]
            ]
    if cfg.attack:
        idx = sample_indices(len(data), cfg.sample, cfg.seed)
        attack = WordSubstitutionAttack(clf, wordnet, attack_settings(cfg), encoder)
        out = attack.run([data.texts[i] for i in idx], data.labels[idx])
        for a in out["adversarial"]:
            a["index"] = keep[idx[a["index"]]]  # row of the eval split, for reuse by a child run
        out["sample"] = {"size": len(idx), "seed": cfg.seed, "eval_rows": [keep[i] for i in idx]}
        res.details["attack"] = out
        for key in ("attack_success_rate", "accuracy_under_attack", "clean_accuracy", "queries_per_example"):
            if out[key] is not None:
                res.metrics[key] = float(out[key])
        res.metrics["attack_seconds"] = out["seconds"]
        if out["attack_success_rate"] is not None:
            c = out["constraints"]
            res.finding(
                "warning" if out["attack_success_rate"] > 0.2 else "info",
                f"word-substitution attack: {out['succeeded']} of {out['attacked']} attacked examples "
                f"flipped "
                f"({out['attack_success_rate']:.1%}); accuracy {out['clean_accuracy']:.1%} -> "
                f"{out['accuracy_under_attack']:.1%} under attack. Constraints: at most "
                f"{c['max_words_changed_share']:.0%} of words, similarity >= {c['min_sentence_similarity']}, "
                f"budget {c['query_budget_per_example']} queries, no stop words.",
            )
        res.examples += [{"kind": "adversarial", **a} for a in out["adversarial"][: cfg.worst_examples]]
    res.seconds = time.perf_counter() - t0
    return res
