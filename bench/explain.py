"""Explanations on the SST-2 MiniLM run: faithfulness of IG and occlusion against random rankings, and
the cost of IG against Captum used naively.

Run from the project root, with nothing else running (about 15 minutes on 2 cores):

    .venv/bin/python bench/explain.py [--n 200] [--naive-n 40]

1. `fairtune run configs/sst2-minilm.yaml` if the run has no trained model yet.
2. In this process, on the audit's own sample (N dev sentences, seeded), side by side: fairtune's
   integrated gradients as fairtune ships it (`ig`: the default ig_steps; with ig_max_delta the steps
   would be chosen per text), IG at a fixed 50 steps (`ig_50_steps`, the reference), fixed 4/8/16 steps
   (`ig_sweep`), occlusion, and a random ranking of the same words. Each is scored with ERASER's AOPC
   comprehensiveness and sufficiency (bins 1, 5, 10, 20, 50% of the words).
3. Captum used naively on the first NAIVE_N of those sentences: `LayerIntegratedGradients` on the same
   embedding layer, same baseline, target and output, one unbatched `attribute` call per text with
   Captum's defaults (50 steps, no internal batching, model weights requiring gradients). Its word
   scores are compared with fairtune's (Spearman), to show both compute the same attributions.
4. `fairtune audit --only explain` twice, on a scratch copy of the run (runs/sst2-minilm-explain), with
   IG at 50 steps (stability at 20) and at the shipped defaults: the explanation audit's own seconds,
   the main job's explain stage before and after.

Results: bench/results/<host-class>/explain.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np

from _common import ROOT, fairtune, scratch_copy, trained_run, write_results

CONFIG = "configs/sst2-minilm.yaml"
SWEEP_STEPS = (4, 8, 16)
RUN = ROOT / "runs" / "sst2-minilm"


def naive_captum(clf: Any, texts: list[str]) -> tuple[list[list[float]], float]:
    """What a user of Captum writes from its BERT tutorial: one call per text, default settings."""
    import torch
    from captum.attr import LayerIntegratedGradients

    from fairtune.audits.explain import Words, merge_pieces

    model, tok = clf.model, clf.tokenizer
    model.eval()

    def forward(input_ids: Any, attention_mask: Any) -> Any:
        return torch.softmax(model(input_ids=input_ids, attention_mask=attention_mask).logits, dim=-1)

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    scores = []
    t0 = time.perf_counter()
    for text in texts:
        enc = tok(
            text, return_tensors="pt", truncation=True, max_length=clf.max_length, return_offsets_mapping=True
        )
        ids, mask = enc["input_ids"], enc["attention_mask"]
        baseline = ids.clone()
        baseline[0, 1:-1] = tok.pad_token_id
        with torch.no_grad():
            target = int(forward(ids, mask).argmax())
        attr = lig.attribute(ids, baselines=baseline, target=target, additional_forward_args=(mask,))
        piece = attr.sum(dim=-1)[0].detach().numpy().tolist()
        scores.append(merge_pieces(Words.of(text), enc["offset_mapping"][0].tolist(), piece))
    return scores, time.perf_counter() - t0


def timed_audit(scratch: Path, steps: int, stability_steps: int) -> float:
    """`fairtune audit SCRATCH --only explain` with these IG settings; the audit's own seconds."""
    where = str(scratch.relative_to(ROOT))
    fairtune(
        "audit",
        where,
        "--only",
        "explain",
        f"audit.explain.ig_steps={steps}",
        f"audit.explain.stability_steps={stability_steps}",
    )
    return float(json.loads((scratch / "audit" / "explain.json").read_text())["seconds"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="dev sentences scored (the audit's sample size)")
    ap.add_argument("--naive-n", type=int, default=40, help="sentences explained by naive Captum")
    ap.add_argument(
        "--skip-audit",
        action="store_true",
        help="do not rerun `fairtune audit --only explain`; report the seconds its last run recorded",
    )
    args = ap.parse_args()

    trained_run(ROOT / CONFIG)
    import torch
    from scipy.stats import spearmanr

    from fairtune.audits._result import sample_indices
    from fairtune.audits.explain import ExplainSettings, explain, faithfulness
    from fairtune.audits.explain._audit import random_rankings
    from fairtune.audits.explain._words import has_words
    from fairtune.config import ExplainAuditConfig
    from fairtune.data import load_task_data
    from fairtune.models import load_run_classifier

    _, cfg, clf = load_run_classifier(RUN)
    ec = cfg.audit.explain
    data = load_task_data(cfg.data.model_copy(update={"label_names": clf.labels}), cfg.seed).eval
    usable = [t for t in data.texts if t.strip() and has_words(t)]
    texts = [usable[i] for i in sample_indices(len(usable), args.n, ec.seed)]
    settings = ExplainSettings(ig_steps=50, ig_internal_batch_size=ec.ig_internal_batch_size, seed=ec.seed)
    print(f"{len(texts)} dev sentences; torch threads {torch.get_num_threads()}; precision {clf.precision}")

    default = ExplainAuditConfig()  # IG as fairtune ships it (the run's config may predate the default)
    shipped = ExplainSettings(
        ig_steps=default.ig_steps,
        ig_max_delta=default.ig_max_delta,
        ig_max_steps=default.ig_max_steps,
        ig_internal_batch_size=ec.ig_internal_batch_size,
        seed=ec.seed,
    )
    ways = {
        "ig": ("ig", shipped),
        "ig_50_steps": ("ig", settings),
        **{f"ig_{n}_steps": ("ig", replace(settings, ig_steps=n)) for n in SWEEP_STEPS},
        "occlusion": ("occlusion", settings),
    }
    out: dict[str, Any] = {}
    expl: dict[str, Any] = {}
    explain(clf, texts[:4], "ig", settings=settings)  # warm-up: first-call allocations
    explain(clf, texts[:4], "occlusion", settings=settings)
    for name, (method, how) in ways.items():
        t0 = time.perf_counter()
        ex = explain(clf, texts, method, settings=how)
        seconds = time.perf_counter() - t0
        comp, suff = faithfulness(clf, ex, ec.bins)
        expl[name] = ex
        out[name] = {
            "comprehensiveness": float(comp.mean()),
            "sufficiency": float(suff.mean()),
            "seconds_per_explanation": seconds / len(ex),
        }
        if method == "ig":
            out[name]["steps_mean"] = float(np.mean([e.steps for e in ex]))
            out[name]["convergence_delta_mean"] = float(np.mean([e.convergence_delta for e in ex]))
        print(name, out[name], flush=True)
    sweep = {k: out.pop(k) for k in [f"ig_{n}_steps" for n in SWEEP_STEPS]}
    rcomp, rsuff = faithfulness(clf, expl["ig"], ec.bins, random_rankings(expl["ig"], ec.seed))
    out["random"] = {
        "comprehensiveness": float(rcomp.mean()),
        "sufficiency": float(rsuff.mean()),
        "seconds_per_explanation": 0.0,
    }
    print("random", out["random"])

    naive_texts = texts[: args.naive_n]
    naive_scores, naive_seconds = naive_captum(clf, naive_texts)
    out["captum_naive_seconds_per_explanation"] = naive_seconds / len(naive_texts)
    t0 = time.perf_counter()  # fairtune's IG again, on exactly the texts naive Captum explained
    explain(clf, naive_texts, "ig", settings=shipped)
    ig_same = (time.perf_counter() - t0) / len(naive_texts)
    rhos = [
        float(spearmanr(a, e.scores).statistic)
        for a, e in zip(naive_scores, expl["ig_50_steps"][: len(naive_texts)], strict=True)
        if len(a) >= 3 and np.ptp(a) > 0
    ]
    print(f"naive captum: {out['captum_naive_seconds_per_explanation']:.3f} s per explanation")

    if args.skip_audit:  # the audit's own timing from its last run (written by the auditor itself)
        last = json.loads((RUN / "audit" / "explain.json").read_text())["seconds"]
        audit_seconds = {"default": last, "50_steps": None}
    else:
        scratch = scratch_copy(RUN, "explain")  # the audit saves its settings: not into the run itself
        audit_seconds = {
            label: timed_audit(scratch, steps, stability)
            for label, steps, stability in (
                ("50_steps", 50, 20),
                ("default", default.ig_steps, default.stability_steps),
            )
        }
    ig, ref = out["ig"], out["ig_50_steps"]
    out["ig_sweep"] = sweep
    out["detail"] = {
        "command": ".venv/bin/python bench/explain.py " + " ".join(sys.argv[1:]),
        "precision": clf.precision,
        "n": len(texts),
        "naive_n": len(naive_texts),
        "ig_steps": default.ig_steps,
        "ig_max_delta": default.ig_max_delta,
        "ig_max_steps": default.ig_max_steps,
        "ig_internal_batch_size": ec.ig_internal_batch_size,
        "ig_speedup_vs_50_steps": ref["seconds_per_explanation"] / ig["seconds_per_explanation"],
        "ig_comprehensiveness_vs_50_steps": ig["comprehensiveness"] / ref["comprehensiveness"],
        "bins": ec.bins,
        "ig_convergence_delta_mean": float(np.mean([e.convergence_delta or 0 for e in expl["ig"]])),
        "ig_comprehensiveness_vs_random": ig["comprehensiveness"] / out["random"]["comprehensiveness"],
        "ig_seconds_per_explanation_on_naive_texts": ig_same,
        "ig_speedup_vs_naive_same_texts": out["captum_naive_seconds_per_explanation"] / ig_same,
        "ig_50_steps_vs_naive_spearman_mean": float(np.mean(rhos)) if rhos else None,
        "mean_words_per_text": float(np.mean([len(e.words) for e in expl["ig"]])),
        "audit_seconds": audit_seconds["default"],
        "audit_seconds_50_steps": audit_seconds["50_steps"],
        "targets": {
            "ig_comprehensiveness_at_least_2x_random": ig["comprehensiveness"]
            >= 2 * out["random"]["comprehensiveness"],
            "ig_sufficiency_below_random": ig["sufficiency"] < out["random"]["sufficiency"],
            "ig_under_0.2_s": ig["seconds_per_explanation"] < 0.2,
            "ig_comprehensiveness_within_5pct_of_50_steps": ig["comprehensiveness"]
            >= 0.95 * ref["comprehensiveness"],
        },
    }
    path = write_results("explain", out)
    print(json.dumps(out["detail"], indent=2))
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
