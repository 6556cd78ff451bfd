"""Drift detection on the SST-2 MiniLM run, at `fairtune monitor`'s defaults: how often a window of Amazon
reviews (books, dvd, electronics, kitchen; Blitzer et al. 2007) is flagged (power), how often a window of
held-out SST-2 sentences is (false alarms), and what `fairtune monitor` costs on 1,000 new texts.

    .venv/bin/python bench/drift.py [--windows 20] [--window 200]

It reads runs/sst2-minilm (model/, config.yaml, metrics.json) and writes nothing there: the reference
cache and the monitor documents go to a temporary folder. Each pool of texts is profiled once with the
run's model (embeddings, probabilities, lengths, vocabulary, identity terms), then `--windows` seeded
windows of `--window` texts are drawn from it and compared with the reference by the same function
`fairtune monitor` calls, so only the tests vary. The SST-2 windows come from GLUE's test sentences
(neither in train nor in dev, the run's eval split and so the reference). An ablation compares those
windows with a reference drawn from train + eval (`monitor.reference: both`). The cost is the wall time
of `fairtune monitor` in its own process on 1,000 reviews (250 per domain), once with the reference to
build and then `--repeats` times with it cached (the median is the headline); the load average is
recorded, since other benchmarks may share the cores.

Results: bench/results/<host-class>/drift.json (an "update" block that bench/refresh.py wrote is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fairtune, read_results, write_results

RUN = ROOT / "runs" / "sst2-minilm"
DATA = ROOT.parent / "shared" / "data"
DOMAINS = ("books", "dvd", "electronics", "kitchen")
TARGETS = {"power": 0.9, "false_alarm_rate": 0.05, "monitor_seconds_per_1000": 30.0}


def _amazon(domain: str) -> tuple[list[str], np.ndarray]:
    rows = [json.loads(line) for line in (DATA / "amazon_multidomain" / f"{domain}.jsonl").open()]
    return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows])


def _sst2_heldout() -> list[str]:
    """GLUE SST-2 test sentences that are neither a training text nor a dev (reference) text."""

    def column(name: str, index: int) -> list[str]:
        lines = (DATA / "sst2_glue" / name).read_text(encoding="utf-8").splitlines()[1:]
        return [line.split("\t")[index].strip() for line in lines]

    seen = set(column("train.tsv", 0)) | set(column("dev.tsv", 0))
    return sorted({t for t in column("test.tsv", 1) if t not in seen})


def _windows(
    pool: Any, n: int, size: int, seed: int, compare_one: Any, labels: np.ndarray | None = None
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        idx = np.sort(rng.choice(len(pool), size, replace=False))
        t0 = time.perf_counter()
        doc = compare_one(pool.subset(idx), None if labels is None else labels[idx])
        out.append({**doc["metrics"], "seconds": time.perf_counter() - t0})
    return out


def _summary(windows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("mmd_p_value", "length_shift", "oov_rate", "identity_shift", "label_shift_tv")
    keys += ("confidence_shift", "accuracy", "accuracy_drop")
    out: dict[str, Any] = {
        "flagged": float(np.mean([w["flagged"] for w in windows])),
        "median_mmd_p_value": float(np.median([w["mmd_p_value"] for w in windows])),
        "max_mmd_p_value": float(np.max([w["mmd_p_value"] for w in windows])),
        "test_seconds": float(np.mean([w["seconds"] for w in windows])),
    }
    out.update({f"mean_{k}": float(np.mean([w[k] for w in windows])) for k in keys if k in windows[0]})
    return out


def _cost(tmp: Path, texts: list[str], repeats: int) -> dict[str, Any]:
    """`fairtune monitor` on `texts` in its own process: once building the reference (cold), then
    `repeats` times reusing it (warm); each call's wall seconds, its own stage timings, the load."""
    data = tmp / "new-1000.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    out = tmp / "cost"
    calls = []
    for _ in range(1 + repeats):
        load = os.getloadavg()
        seconds = fairtune(
            "monitor", str(RUN), "--data", str(data), "--text-column", "text", "--out", str(out)
        )
        doc = json.loads(max(out.glob("20*.json")).read_text())
        calls.append({"seconds": seconds, "stages": doc["seconds"], "loadavg_before": load})
    warm = calls[1:]
    return {
        "cold": calls[0],
        "warm": warm,
        "warm_median_seconds": float(np.median([c["seconds"] for c in warm])),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--windows", type=int, default=20, help="windows per pool")
    ap.add_argument("--window", type=int, default=200, help="texts per window")
    ap.add_argument("--pool-size", type=int, help="use only the first N texts of each pool (a quick check)")
    ap.add_argument(
        "--repeats", type=int, default=3, help="warm calls of fairtune monitor timed (the median)"
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    load_start = os.getloadavg()

    from fairtune._rundir import RunDir
    from fairtune.monitor import compare, identity_swappers, load_reference, profile, run_classifier
    from fairtune.workflows.monitor import monitor_config

    run = RunDir(RUN)
    cfg = monitor_config(run)
    m = cfg.monitor
    clf = run_classifier(cfg, run.model)
    swappers = identity_swappers(cfg)
    dims = [sw.lexicon.dimension for sw in swappers]
    eval_metrics = run.read_metrics().get("eval")
    with tempfile.TemporaryDirectory(prefix="fairtune-drift-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        ref = load_reference(cfg, run.model, clf, swappers, tmp / "reference.npz")
        reference_seconds = time.perf_counter() - t0

        def against(reference: Any) -> Any:
            def compare_one(new: Any, labels: np.ndarray | None) -> dict[str, Any]:
                return compare(
                    reference.profile,
                    new,
                    label_names=clf.labels,
                    dimensions=dims,
                    alpha=m.alpha,
                    permutations=m.permutations,
                    seed=m.seed,
                    reference_oov=reference.oov_rate(),
                    labels=labels,
                    eval_metrics=eval_metrics,
                )

            return compare_one

        pools: dict[str, dict[str, Any]] = {}
        domains: dict[str, Any] = {}
        for i, domain in enumerate(DOMAINS):
            texts, labels = _amazon(domain)
            texts, labels = texts[: args.pool_size], labels[: args.pool_size]
            t0 = time.perf_counter()
            pool = profile(clf, texts, vocab=ref.vocab, swappers=swappers)
            pools[domain] = {"texts": len(texts), "profile_seconds": time.perf_counter() - t0}
            domains[domain] = _summary(_windows(pool, args.windows, args.window, i, against(ref), labels))
            print(domain, domains[domain], flush=True)
        sst = _sst2_heldout()[: args.pool_size]
        t0 = time.perf_counter()
        sst_pool = profile(clf, sst, vocab=ref.vocab, swappers=swappers)
        pools["sst2_heldout"] = {"texts": len(sst), "profile_seconds": time.perf_counter() - t0}
        sst_windows = _windows(sst_pool, args.windows, args.window, 99, against(ref))
        held = _summary(sst_windows)
        print("sst2", held, flush=True)

        both_cfg = monitor_config(run, ["monitor.reference=both"])
        both = load_reference(both_cfg, run.model, clf, swappers, tmp / "reference-both.npz")
        ablation = _summary(_windows(sst_pool, args.windows, args.window, 99, against(both)))
        print("sst2 vs train+eval", ablation, flush=True)

        rng = np.random.default_rng(7)
        cost_texts = [t for d in DOMAINS for t in rng.choice(_amazon(d)[0], 250, replace=False).tolist()]
        cost = _cost(tmp, cost_texts, args.repeats)
        print("cost", cost, flush=True)

    power = {d: domains[d]["flagged"] for d in DOMAINS}
    per_1000 = cost["warm_median_seconds"]
    doc: dict[str, Any] = {
        "power": power,
        "false_alarm_rate": held["flagged"],
        "alpha": m.alpha,
        "window": args.window,
        "windows": args.windows,
        "monitor_seconds_per_1000": per_1000,
        "monitor_seconds_per_1000_cold": cost["cold"]["seconds"],
        "targets": TARGETS,
        "met": {
            "power": all(v >= TARGETS["power"] for v in power.values()),
            "false_alarm_rate": held["flagged"] <= TARGETS["false_alarm_rate"],
            "monitor_seconds_per_1000": per_1000 < TARGETS["monitor_seconds_per_1000"],
        },
        "settings": m.model_dump(),
        "reference": {"texts": len(ref.profile), "source": ref.source, "seconds": reference_seconds},
        "domains": domains,
        "sst2_heldout": held,
        "ablation_reference_both": {
            "reference": {"texts": len(both.profile), "source": both.source},
            "sst2_heldout": ablation,
        },
        "pools": pools,
        "cost": cost,
        "run_eval_accuracy": (eval_metrics or {}).get("accuracy"),
        "loadavg": {"start": load_start, "end": os.getloadavg()},
        "note": "other benchmarks (fairtune mitigate training) may have shared the 2 cores: see loadavg",
        "bench_seconds": time.perf_counter() - started,
        "command": "python bench/drift.py " + " ".join(sys.argv[1:]),
    }
    earlier = read_results("drift") or {}
    if "update" in earlier:  # bench/refresh.py's part of the file
        doc["update"] = earlier["update"]
    print(f"-> {write_results('drift', doc)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
