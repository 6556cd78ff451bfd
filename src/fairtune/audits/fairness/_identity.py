"""Identity-term error rates (Dixon et al. 2018; Borkan et al. 2019).

A balanced, generated set: every evaluation-side labelled template (as many positive as negative) filled
with every @probe phrase of the lexicons. Per term (phrase): the false positive and false negative rates
on its sentences, and its pinned AUC: the AUC on its sentences mixed with an equal-size random sample of
the whole set. The summaries are Dixon et al.'s equality differences, the sum over terms of
|overall rate - term rate| (FPED, FNED), and the spread of the pinned AUCs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fairtune.data import Lexicon
from fairtune.data._templates import Template, read_templates, terms_in_templates
from fairtune.errors import ConfigError
from fairtune.models import Classifier

PACKAGED = ("fairtune.audits.fairness", "identity_templates.tsv")
FIELD = "audit.fairness.identity_templates"


def load_identity_templates(path: str | None, lexicons: list[Lexicon]) -> list[Template]:
    """The evaluation-side labelled templates, refused when one holds a lexicon term."""
    templates = read_templates(path, PACKAGED, FIELD, labels=("positive", "negative"))
    problems = terms_in_templates(templates, lexicons, FIELD)
    if problems:
        raise ConfigError(problems)
    return templates


def probe_terms(lexicons: list[Lexicon]) -> list[tuple[str, str, str]]:
    """(dimension, group, phrase) of every @probe phrase, each once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for lex in lexicons:
        for row in lex.probes:
            for g, phrase in enumerate(row):
                if (lex.dimension, phrase) not in seen:
                    seen.add((lex.dimension, phrase))
                    out.append((lex.dimension, lex.groups[g], phrase))
    return out


def _pinned_auc(y: np.ndarray, p: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> float | None:
    from sklearn.metrics import roc_auc_score

    background = rng.choice(len(y), size=len(rows), replace=False)
    idx = np.concatenate([rows, background])
    return float(roc_auc_score(y[idx], p[idx])) if len(set(y[idx].tolist())) == 2 else None


def identity_error_rates(
    clf: Classifier,
    lexicons: list[Lexicon],
    templates: list[Template],
    pos: int,
    *,
    seed: int,
    worst: int = 10,
) -> dict[str, Any]:
    """Per-term FPR, FNR and pinned AUC, and their summaries (see the module docstring)."""
    terms = probe_terms(lexicons)
    y1 = np.array([t.label == "positive" for t in templates])
    sentences = [t.fill(phrase) for _, _, phrase in terms for t in templates]
    y = np.tile(y1, len(terms))
    proba = clf.predict_proba(sentences)
    p, said = proba[:, pos], proba.argmax(axis=1) == pos
    fpr, fnr = float(said[~y].mean()), float((~said[y]).mean())
    rng = np.random.default_rng(seed)
    k = len(templates)
    per_term: list[dict[str, Any]] = []
    for j, (dim, group, phrase) in enumerate(terms):
        rows = np.arange(j * k, (j + 1) * k)
        t_fpr, t_fnr = float(said[rows][~y1].mean()), float((~said[rows][y1]).mean())
        per_term.append(
            {
                "dimension": dim,
                "group": group,
                "term": phrase,
                "fpr": t_fpr,
                "fnr": t_fnr,
                "pinned_auc": _pinned_auc(y, p, rows, rng),
                "mean_positive": float(p[rows].mean()),
                "gap": abs(t_fpr - fpr) + abs(t_fnr - fnr),
            }
        )
    aucs = [t["pinned_auc"] for t in per_term if t["pinned_auc"] is not None]
    return {
        "templates": len(templates),
        "positive_templates": int(y1.sum()),
        "terms": len(terms),
        "sentences": len(sentences),
        "fpr": fpr,
        "fnr": fnr,
        "fped": float(sum(abs(fpr - t["fpr"]) for t in per_term)),
        "fned": float(sum(abs(fnr - t["fnr"]) for t in per_term)),
        "auc_spread": float(max(aucs) - min(aucs)) if aucs else 0.0,
        "auc_min": float(min(aucs)) if aucs else None,
        "per_dimension": _per_dimension(per_term, fpr, fnr),
        "worst_terms": sorted(per_term, key=lambda t: -t["gap"])[:worst],
        "per_term": per_term,
    }


def _per_dimension(per_term: list[dict[str, Any]], fpr: float, fnr: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in per_term:
        d = out.setdefault(t["dimension"], {"terms": 0, "fped": 0.0, "fned": 0.0, "groups": {}})
        d["terms"] += 1
        d["fped"] += abs(fpr - t["fpr"])
        d["fned"] += abs(fnr - t["fnr"])
        g = d["groups"].setdefault(t["group"], {"terms": 0, "fpr": 0.0, "fnr": 0.0})
        g["terms"] += 1
        g["fpr"] += t["fpr"]
        g["fnr"] += t["fnr"]
    for d in out.values():
        for g in d["groups"].values():
            g["fpr"] /= g["terms"]
            g["fnr"] /= g["terms"]
    return out
