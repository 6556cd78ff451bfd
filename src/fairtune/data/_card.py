"""The data card: sizes, label balance, lengths, duplicates, train/eval leakage; findings have a severity."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fairtune.config import DataCardConfig
from fairtune.data._load import LabelledData, TaskData

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
EXAMPLE_CHARS = 100


_RUN_START = re.compile(r"(?<=[^\W_])[\W_]", re.UNICODE)
CHUNK = 1 << 20


def normalize(text: str) -> str:
    """Near-duplicate key: lower case, punctuation and runs of spaces removed. A long text goes through in
    pieces cut where a run of non-word characters starts, so the result is the same and no piece
    becomes millions of fragments at once (a 50 MB line would take gigabytes)."""
    if len(text) <= CHUNK:
        return _NON_WORD.sub(" ", text.lower()).strip()
    parts, start = [], 0
    while start < len(text):
        cut = _RUN_START.search(text, start + CHUNK)
        end = cut.start() if cut else len(text)
        parts.append(_NON_WORD.sub(" ", text[start:end].lower()))
        start = end
    return "".join(parts).strip()


_WORD = re.compile(r"\S+")


def count_words(text: str) -> int:
    """Whitespace-separated words, counted without building the list (a 50 MB line has ten million)."""
    return sum(1 for _ in _WORD.finditer(text))


def _short(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def _percentiles(values: Sequence[int]) -> dict[str, float]:
    arr = np.asarray(values)
    return {f"p{q}": float(np.percentile(arr, q)) for q in (5, 25, 50, 75, 95, 99)} | {
        "max": float(arr.max()),
        "mean": float(arr.mean()),
    }


def _finding(check: str, severity: str, message: str, count: int, examples: list[str] | None = None) -> dict:
    return {
        "check": check,
        "severity": severity,
        "message": message,
        "count": count,
        "examples": examples or [],
    }


def _duplicates(split: LabelledData, names: list[str]) -> tuple[dict[str, Any], list[dict]]:
    n = len(split)
    exact = Counter(split.texts)
    exact_extra = sum(c - 1 for c in exact.values() if c > 1)
    by_norm: dict[str, set[str]] = defaultdict(set)
    labels_by_text: dict[str, set[int]] = defaultdict(set)
    for text, label in zip(split.texts, split.labels.tolist(), strict=True):
        by_norm[normalize(text)].add(text)
        labels_by_text[normalize(text)].add(label)
    near_groups = [sorted(v) for v in by_norm.values() if len(v) > 1]
    near_extra = sum(len(g) - 1 for g in near_groups)
    conflicts = [k for k, v in labels_by_text.items() if len(v) > 1]
    stats = {
        "exact_duplicates": exact_extra,
        "exact_duplicate_share": exact_extra / n,
        "near_duplicates": near_extra,
        "near_duplicate_share": near_extra / n,
        "conflicting_label_groups": len(conflicts),
    }
    findings = []
    sev = "warning" if exact_extra / n > 0.01 else "info"
    dup_examples = [_short(t) for t, c in exact.most_common(3) if c > 1]
    findings.append(
        _finding(
            "train.exact_duplicates",
            sev,
            f"{exact_extra} train rows repeat an earlier text ({exact_extra / n:.1%}).",
            exact_extra,
            dup_examples,
        )
    )
    sev = "warning" if near_extra / n > 0.01 else "info"
    findings.append(
        _finding(
            "train.near_duplicates",
            sev,
            f"{near_extra} train texts differ from another only in case, punctuation or spacing.",
            near_extra,
            [" | ".join(map(_short, g[:2])) for g in near_groups[:3]],
        )
    )
    if conflicts:
        findings.append(
            _finding(
                "train.conflicting_labels",
                "warning",
                f"{len(conflicts)} groups of (near-)identical train texts carry different labels.",
                len(conflicts),
                [_short(c) for c in conflicts[:3]],
            )
        )
    return stats, findings


def _leakage(task: TaskData) -> tuple[dict[str, Any], list[dict]]:
    train_exact = set(task.train.texts)
    train_norm = {normalize(t) for t in task.train.texts}
    exact = [t for t in task.eval.texts if t in train_exact]
    near = [t for t in task.eval.texts if t not in train_exact and normalize(t) in train_norm]
    share = (len(exact) + len(near)) / len(task.eval)
    sev = "error" if share > 0.05 else "warning" if exact or near else "info"
    msg = (
        f"{len(exact)} eval texts also appear in train verbatim and {len(near)} more after normalising case "
        f"and punctuation ({share:.1%} of eval). Eval scores on them measure memory, not generalisation."
    )
    return (
        {"eval_in_train_exact": len(exact), "eval_in_train_near": len(near), "eval_in_train_share": share},
        [
            _finding(
                "leakage.train_eval_overlap",
                sev,
                msg,
                len(exact) + len(near),
                [_short(t) for t in (exact + near)[:3]],
            )
        ],
    )


def _balance(task: TaskData, cfg: DataCardConfig) -> tuple[dict[str, Any], list[dict]]:
    out: dict[str, Any] = {}
    findings = []
    for split_name, split in (("train", task.train), ("eval", task.eval)):
        counts = np.bincount(split.labels, minlength=len(task.label_names))
        out[split_name] = {
            name: {"count": int(c), "share": float(c / len(split))}
            for name, c in zip(task.label_names, counts, strict=True)
        }
    shares = {n: v["share"] for n, v in out["train"].items()}
    rare = [n for n, s in shares.items() if s < cfg.min_label_share]
    ratio = max(shares.values()) / max(min(shares.values()), 1e-12)
    findings.append(
        _finding(
            "labels.balance",
            "warning" if rare else "info",
            f"train label shares: {', '.join(f'{n} {s:.1%}' for n, s in shares.items())}"
            f" (largest/smallest {ratio:.2f})." + (f" Rare labels: {', '.join(rare)}." if rare else ""),
            len(rare),
        )
    )
    missing_eval = [n for n, v in out["eval"].items() if v["count"] == 0]
    if missing_eval:
        findings.append(
            _finding(
                "labels.missing_in_eval",
                "warning",
                f"labels never seen in eval: {', '.join(missing_eval)}; their recall cannot be measured.",
                len(missing_eval),
            )
        )
    return out, findings


def _lengths(
    task: TaskData, count_tokens: Callable[[list[str]], list[int]], limit: int
) -> tuple[dict, list[dict]]:
    out: dict[str, Any] = {}
    long_total, examples = 0, []
    for split_name, split in (("train", task.train), ("eval", task.eval)):
        tokens = count_tokens(split.texts)
        out[split_name] = {
            "chars": _percentiles([len(t) for t in split.texts]),
            "words": _percentiles([count_words(t) for t in split.texts]),
            "tokens": _percentiles(tokens),
        }
        over = [i for i, n in enumerate(tokens) if n > limit]
        out[split_name]["over_limit"] = len(over)
        long_total += len(over)
        examples += [_short(split.texts[i]) for i in over[:2]]
    n = len(task.train) + len(task.eval)
    sev = "warning" if long_total / n > 0.01 else "info"
    out["long_text_share"] = long_total / n
    return out, [
        _finding(
            "texts.too_long",
            sev,
            f"{long_total} texts are longer than {limit} tokens and will be truncated.",
            long_total,
            examples,
        )
    ]


def _identity_terms(task: TaskData) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """How often the fairness lexicons' groups are mentioned in train: who the data talks about."""
    from fairtune.data._lexicon import DIMENSIONS, load_lexicons
    from fairtune.data._swap import make_swappers

    out: dict[str, Any] = {}
    n = max(len(task.train), 1)
    for sw in make_swappers(load_lexicons(list(DIMENSIONS)), pronouns=True):
        groups = sw.lexicon.groups
        counts = dict.fromkeys(groups, 0)
        texts = 0
        for t in task.train.texts:
            found = sw.groups_in(t)
            texts += bool(found)
            for g in found:
                counts[groups[g]] += 1
        out[sw.lexicon.dimension] = {"train_texts": texts, "train_share": texts / n, "per_group": counts}
    mentioned = {d: v for d, v in out.items() if v["train_texts"]}
    msg = (
        "Train texts mentioning identity terms (fairness lexicons): "
        + ", ".join(f"{d} {v['train_share']:.1%}" for d, v in mentioned.items())
        + "."
        if mentioned
        else "No train text mentions a term of the fairness lexicons."
    )
    return out, [_finding("identity_terms", "info", msg, sum(v["train_texts"] for v in out.values()))]


def build_data_card(
    task: TaskData, count_tokens: Callable[[list[str]], list[int]], cfg: DataCardConfig, max_length: int
) -> dict[str, Any]:
    """Everything a reviewer should know about the data before trusting a model trained on it."""
    limit = cfg.long_text_tokens or max_length
    dup_stats, dup_findings = _duplicates(task.train, task.label_names)
    leak_stats, leak_findings = _leakage(task)
    balance, bal_findings = _balance(task, cfg)
    lengths, len_findings = _lengths(task, count_tokens, limit)
    empty = sum(1 for t in task.train.texts + task.eval.texts if not t.strip())
    identity, id_findings = _identity_terms(task)
    findings = bal_findings + dup_findings + leak_findings + len_findings + id_findings
    findings.append(_finding("texts.empty", "error" if empty else "info", f"{empty} empty texts.", empty))
    if task.redaction:
        r = task.redaction
        counts = {k: r["train"]["counts"].get(k, 0) + r["eval"]["counts"].get(k, 0) for k in r["entities"]}
        found = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"
        n = r["train"]["texts_with_pii"] + r["eval"]["texts_with_pii"]
        findings.append(
            _finding("pii.redacted", "info", f"PII redacted ({r['operator']}) in {n} texts: {found}.", n)
        )
    card_pii = {"pii": task.redaction} if task.redaction else {}
    return {
        "schema": "fairtune/data_card/v1",
        "sources": {
            "train": task.train.source,
            "eval": task.eval.source,
            "eval_is_split": task.eval_is_split,
        },
        "rows": {"train": len(task.train), "eval": len(task.eval)},
        "labels": task.label_names,
        "label_balance": balance,
        "lengths": lengths,
        "duplicates": dup_stats,
        "leakage": leak_stats,
        "identity_terms": identity,
        **card_pii,
        "findings": findings,
        "metrics": {
            "train_eval_overlap": leak_stats["eval_in_train_share"],
            "train_exact_duplicates": dup_stats["exact_duplicate_share"],
            "train_near_duplicates": dup_stats["near_duplicate_share"],
            "long_texts": lengths["long_text_share"],
        },
        "method": {
            "near_duplicate": "equal after lower-casing and turning punctuation and spaces into one space",
            "tokens": f"tokenizer of the configured model; limit {limit}",
        },
    }
