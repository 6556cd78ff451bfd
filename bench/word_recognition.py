"""The word-recognition front end (`model.word_recognition`; `fairtune mitigate ... --word-recognition`) on
the trained SST-2 MiniLM runs, side by side with the same runs without it.

    .venv/bin/python bench/word_recognition.py [--child robustness-both-pertall-kl2] [--seeds 3]

Run it after bench/robustness.py has trained and audited the parent's and the child's seeds. For each
seed of the parent (runs/sst2-minilm and its seeds/seed-*) and of CHILD (runs/sst2-minilm/mitigate/CHILD
and its seeds), a scratch run directory under runs/word-recognition/ holds the run's config and metrics,
links to its model files, and the front end that `model.word_recognition: {}` builds when training ends,
from the run's own training texts; then `fairtune evaluate` and `fairtune audit --only robustness` run on
it, as on any run. The runs without the front end are read from their own audits. So each pair differs
by the front end alone: the same weights, eval texts, attack sample and perturbations. A finished
scratch run is reused (--redo builds it again), so a stopped benchmark continues.

Arms, each against the parent without the front end (means over seeds, 95% intervals, judged by the
targets of bench/robustness.py): `wr` (the parent's runs with the front end), CHILD (its own audits) and
`CHILD+wr`. `paired`: per arm, the mean over seeds of (with - without) on the same runs, with its 95%
interval. The front end adds no training: an arm's time ratio is its runs' training time plus the
front end's build time, against the parent's training time.
Results: bench/results/<host-class>/word_recognition.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fairtune, judge_arm, seed_runs, write_results
from robustness import MAX_ACCURACY_DROP_POINTS, METRICS, TARGETS

RUN = ROOT / "runs" / "sst2-minilm"
SCRATCH = ROOT / "runs" / "word-recognition"
#: metric -> lower is better
LOWER_IS_BETTER = {
    "attack_success_rate": True,
    "accuracy_under_attack": False,
    "invariance_failure_rate": True,
    "dev_accuracy": False,
    "dev_ece": True,
}


def audited_seeds(root: Path, seeds: int) -> list[Path]:
    """The first `seeds` of the run's seeds whose robustness audit is written."""
    runs = [r for r in seed_runs(root) if (r / "audit" / "robustness.json").is_file()][:seeds]
    if len(runs) < seeds:
        raise SystemExit(f"{root}: {len(runs)} audited seed(s), {seeds} asked: run bench/robustness.py first")
    return runs


def with_front_end(run: Path, label: str, redo: bool) -> tuple[Path, float]:
    """A scratch copy of `run` with the front end in its model folder, evaluated and audited; with the
    seconds its build took."""
    out = SCRATCH / label
    done = out / "build_seconds.txt"
    if done.is_file() and (out / "audit" / "robustness.json").is_file() and not redo:
        return out, float(done.read_text())
    shutil.rmtree(out, ignore_errors=True)
    (out / "model").mkdir(parents=True)
    for name in ("config.yaml", "metrics.json"):
        shutil.copy(run / name, out / name)
    for f in (run / "model").iterdir():
        (out / "model" / f.name).symlink_to(f.resolve())
    seconds = build(run, out / "model")
    fairtune("evaluate", str(out))
    fairtune("audit", str(out), "--only", "robustness")
    done.write_text(f"{seconds}\n")
    return out, seconds


def build(run: Path, model_dir: Path) -> float:
    """The front end of `model.word_recognition: {}` from the run's training texts, as training builds it."""
    from transformers import AutoTokenizer

    from fairtune._rundir import RunDir
    from fairtune.config._schema import WordRecognitionConfig
    from fairtune.data import load_task_data
    from fairtune.models import build_recognizer

    cfg = RunDir(run).load_config()
    t0 = time.perf_counter()
    texts = load_task_data(cfg.data, cfg.seed, cfg.encryption).train.texts
    rec, info = build_recognizer(WordRecognitionConfig(), texts, AutoTokenizer.from_pretrained(model_dir))
    rec.save(model_dir)
    print(f"{run}: front end with {info}", flush=True)
    return time.perf_counter() - t0


def metrics_of(runs: list[Path]) -> dict[str, list[float]]:
    from fairtune.report import collect_metrics

    found = [collect_metrics(r) for r in runs]
    values = {name: [m[key] for m in found] for name, key in METRICS.items()}
    values["train_seconds"] = [m["train.train_seconds"] for m in found]
    return values


def arm(values: dict[str, list[float]], parent: dict[str, list[float]], extra_seconds: list[float]) -> dict:
    """One arm against the parent: means, intervals, differences, targets (bench/robustness.py's)."""
    from fairtune.evaluation import compare_seeds, mean_ci

    out: dict[str, Any] = {}
    diff: dict[str, Any] = {}
    for name in METRICS:
        s = compare_seeds(values[name], parent[name], LOWER_IS_BETTER[name])
        out[name] = {k: s["child"][k] for k in ("mean", "ci95", "values")}
        diff[name] = {k: s["diff"][k] for k in ("mean", "ci95", "relative", "verdict")}
    seconds = [t + e for t, e in zip(values["train_seconds"], extra_seconds, strict=True)]
    ratio = mean_ci(seconds)["mean"] / mean_ci(parent["train_seconds"])["mean"]
    out.update(seeds=len(seconds), diff=diff, train_seconds=mean_ci(seconds), train_seconds_ratio=ratio)
    out["targets"] = judge_arm(out, TARGETS, tuple(TARGETS), MAX_ACCURACY_DROP_POINTS)
    return out


def paired(with_: dict[str, list[float]], without: dict[str, list[float]]) -> dict[str, Any]:
    """Per metric: the mean over seeds of (with - without) on the same runs, its 95% interval."""
    from fairtune.evaluation import mean_ci

    out = {}
    for name in METRICS:
        d = mean_ci([a - b for a, b in zip(with_[name], without[name], strict=True)])
        base = sum(without[name]) / len(without[name])
        out[name] = {"mean": d["mean"], "ci95": d["ci95"], "relative": d["mean"] / abs(base)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", default="robustness-both-pertall-kl2")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--redo", action="store_true", help="build and audit the scratch runs again")
    args = ap.parse_args()
    from fairtune.evaluation import mean_ci

    sides = {
        "parent": audited_seeds(RUN, args.seeds),
        args.child: audited_seeds(RUN / "mitigate" / args.child, args.seeds),
    }
    without = {side: metrics_of(runs) for side, runs in sides.items()}
    fronted: dict[str, dict[str, list[float]]] = {}
    build_seconds: dict[str, list[float]] = {}
    for side, runs in sides.items():
        done = [
            with_front_end(
                r, f"{side}-{'first' if r in (RUN, RUN / 'mitigate' / side) else r.name}", args.redo
            )
            for r in runs
        ]
        fronted[side] = metrics_of([d for d, _ in done])
        build_seconds[side] = [s for _, s in done]
    parent = without["parent"]
    zero = [0.0] * args.seeds
    arms = {
        "wr": arm(fronted["parent"], parent, build_seconds["parent"]),
        args.child: arm(without[args.child], parent, zero),
        f"{args.child}+wr": arm(fronted[args.child], parent, build_seconds[args.child]),
    }
    doc = {
        "seeds": args.seeds,
        "parent": {name: mean_ci(values) for name, values in parent.items()},
        "arms": arms,
        "paired": {
            "parent": paired(fronted["parent"], parent),
            args.child: paired(fronted[args.child], without[args.child]),
        },
        "runs": {side: [str(r.relative_to(ROOT)) for r in runs] for side, runs in sides.items()},
        "command": f"bench/word_recognition.py --child {args.child} --seeds {args.seeds}",
    }
    path = write_results("word_recognition", doc)
    print(f"written to {path.relative_to(ROOT)}")
    for name, a in arms.items():
        print(name, {m: f"{d['relative']:+.1%} {d['verdict']}" for m, d in a["diff"].items()})


if __name__ == "__main__":
    main()
