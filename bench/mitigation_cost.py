"""What each mitigation costs in training time, measured side by side in one process on a quiet machine.

Run from the project root, with nothing else running (about 25 minutes on 2 cores):

    .venv/bin/python bench/mitigation_cost.py [--steps 60] [--repeats 2] [--arms ...]

Each arm trains MiniLM on SST-2 for `--steps` optimizer steps with the parent's config plus the arm's
mitigation keys (what `fairtune mitigate` sets), and the wall time of those steps is measured (the first
10 steps are warm-up and not counted). A step's cost can depend on the model: the A2T attack skips texts
the model gets wrong and stops when a word flips the prediction, so on a fresh model (about half wrong,
every prediction near 0.5) it is far cheaper than on a trained one. So every arm is timed twice: from
the fresh model (the start of training) and from the parent's trained model (runs/sst2-minilm, trained
first if missing: the end of training). Arms run in turn, `--repeats` times, in an interleaved order,
so that drift of a shared machine falls on every arm alike. The projected cost of a whole run is the
arm's steps per epoch (identity balance adds rows, so it takes more steps) x the mean of the two costs
per step (the cost moving linearly from one to the other), plus what the run spends once outside its
steps (the word-recognition front end's build, timed here); A2T attacks only after its first steps
(10% by default, half in `a2t-late` and `both-late`), which cost what the parent's do there. The ratio
to the parent's projection is what the mitigation targets bound (at most 3x). Arms of an earlier run
that `--arms` leaves out are kept, each with its run (date, steps, rounds) and its ratio to the parent
timed in that run. Results: bench/results/<host-class>/mitigation_cost.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fairness
import robustness
from _common import ROOT, mitigate_choice, read_results, trained_run, write_results

CONFIG = ROOT / "configs" / "sst2-minilm.yaml"
WARMUP = 10
#: arms of the seeded benchmarks that a per-step timing cannot stand for: a sweep trains several
#: settings first, and augment's copies are made by the parent before training, not per step
NOT_TIMED = ("all-tp16-sweep", "augment")
#: arm -> (kind, method, options) as `fairtune mitigate` takes them: the arms of bench/fairness.py and
#: bench/robustness.py, from their own tables
ARMS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "parent": ("", "", {}),
    **{
        name: mitigate_choice(flags)
        for table in (fairness.ARMS, robustness.ARMS)
        for name, (flags, _) in table.items()
        if name not in NOT_TIMED
    },
}


def arm_config(name: str, out: Path) -> Any:
    from fairtune.config import load_config
    from fairtune.workflows.mitigate import child_config

    parent = load_config(CONFIG).model_copy(update={"output_dir": str(out)})
    kind, method, options = ARMS[name]
    return parent if not kind else child_config(parent, out / "sst2-minilm", kind, method, options)


def seconds_per_step(cfg: Any, steps: int, start: Path | None) -> dict[str, Any]:
    """Train `steps` + warm-up steps of `cfg` in a scratch folder, from a fresh head or (`start`) from
    that model's weights; time the steps after warm-up."""
    import torch

    from fairtune.data import load_task_data
    from fairtune.mitigations import apply_data_transforms
    from fairtune.models import build_classifier
    from fairtune.training import Trainer
    from fairtune.training._checkpoint import load_weights
    from fairtune.training._loop import schedule

    torch.manual_seed(cfg.seed)
    data = load_task_data(cfg.data, cfg.seed)
    plain_texts = list(data.train.texts)
    _, extras = apply_data_transforms(cfg, data)
    full_steps = schedule(cfg.train, len(data.train))[1]
    model, tok = build_classifier(cfg.model, data.label_names)
    once = front_end_seconds(cfg, plain_texts, tok)
    if start is not None:
        load_weights(model, start / "model.safetensors")
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        trainer = Trainer(
            model, tok, data, cfg.train, run_dir=Path(tmp), seed=cfg.seed, max_length=cfg.data.max_length,
            show_progress=False, **extras,
        )  # fmt: skip
        # objectives that start late (A2T) are timed as they run once started
        for obj in trainer.objectives:
            if hasattr(obj, "first_step"):
                obj.first_step = 0
        batches = trainer.steps.batches(0)
        trainer.model.train()
        times = []
        for k, idx in enumerate(batches[: steps + WARMUP]):
            t0 = time.perf_counter()
            trainer._train_step(idx)
            trainer.state.step += 1
            if k >= WARMUP:
                times.append(time.perf_counter() - t0)
    plain = cfg.train.attack.start if cfg.train.attack is not None else 0.0
    return {
        "seconds_per_step": statistics.mean(times),
        "full_run_steps": full_steps,
        "plain_share": plain,
        "once_seconds": once,
    }


def front_end_seconds(cfg: Any, texts: list[str], tokenizer: Any) -> float:
    """The seconds a run spends once, outside its steps: the word-recognition front end's build when
    training ends (`model.word_recognition`; 0 without it)."""
    if cfg.model.word_recognition is None:
        return 0.0
    from fairtune.models import build_recognizer

    t0 = time.perf_counter()
    build_recognizer(cfg.model.word_recognition, texts, tokenizer)
    return time.perf_counter() - t0


def measure(
    arms: list[str], steps: int, repeats: int, trained: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """{arm: {state: [s/step per round]}} for the states "fresh" and "trained", and each arm's run info."""
    states = {"fresh": None, "trained": trained}
    measured: dict[str, dict[str, list[float]]] = {a: {s: [] for s in states} for a in arms}
    info: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cost-runs-") as out:
        for r in range(repeats):
            for a in arms if r % 2 == 0 else arms[::-1]:
                for state, start in states.items():
                    res = seconds_per_step(arm_config(a, Path(out)), steps, start)
                    measured[a][state].append(res["seconds_per_step"])
                    once = info.get(a, {}).get("once_seconds_runs", [])
                    info[a] = {**res, "once_seconds_runs": [*once, res["once_seconds"]]}
                    print(f"{a} ({state}): {res['seconds_per_step']:.3f} s/step", flush=True)
    return measured, info


def summary(measured: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """Each arm's cost per step in both states, its projected run and its ratio to the parent's."""
    parent = {s: statistics.mean(v) for s, v in measured["parent"].items()}
    parent_step = statistics.mean(parent.values())
    parent_run = parent_step * info["parent"]["full_run_steps"]
    out = {}
    for a, per_state in measured.items():
        by_state = {s: statistics.mean(v) for s, v in per_state.items()}
        step = statistics.mean(by_state.values())
        # A2T's first steps cost what the parent's do there; the cost moves linearly from fresh to trained
        plain = info[a]["plain_share"]
        early = parent["fresh"] + (parent["trained"] - parent["fresh"]) * plain / 2
        late = by_state["fresh"] + (by_state["trained"] - by_state["fresh"]) * (1 + plain) / 2
        once = statistics.mean(info[a]["once_seconds_runs"])  # the build is timed with every call
        run = info[a]["full_run_steps"] * (plain * early + (1 - plain) * late) + once
        out[a] = {
            "seconds_per_step": step,
            "seconds_per_step_by_state": by_state,
            "seconds_per_step_runs": per_state,
            "full_run_steps": info[a]["full_run_steps"],
            "once_seconds": once,
            "once_seconds_runs": info[a]["once_seconds_runs"],
            "projected_train_seconds": run,
            "ratio_vs_parent": run / parent_run,
            "within_3x": run / parent_run <= 3.0,
        }
    return out


def stamped(arms: dict[str, Any], steps: int, repeats: int) -> dict[str, Any]:
    """Each arm with the run that measured it, dated when it finished (its ratio is to the parent timed
    in that run)."""
    from datetime import UTC, datetime

    run = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "steps_timed": steps, "repeats": repeats}
    return {a: {**m, "run": run} for a, m in arms.items()}


def with_earlier(arms: dict[str, Any]) -> dict[str, Any]:
    """`arms` plus the arms of this host class's earlier results that this run did not time, each with its
    own run, so a run for one new arm keeps the others' ratios (each one's against its own run's parent)."""
    earlier = read_results("mitigation_cost") or {"arms": {}}
    run = {k: earlier.get(k) for k in ("steps_timed", "repeats")}
    kept = {
        a: {"run": {"date": earlier["machine"]["date"], **run}, **m}
        for a, m in earlier["arms"].items()
        if a not in arms and a in ARMS  # an arm the benchmark no longer has is dropped
    }
    return {a: (arms | kept)[a] for a in ARMS if a in arms or a in kept}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    args = ap.parse_args()
    arms = ["parent", *[a for a in args.arms if a != "parent"]]
    trained = trained_run(CONFIG, "train") / "model"
    measured, info = measure(arms, args.steps, args.repeats, trained)
    doc: dict[str, Any] = {
        "steps_timed": args.steps,
        "repeats": args.repeats,
        "states": {
            "fresh": "a fresh head on the foundation model",
            "trained": str(trained.relative_to(ROOT)),
        },
        "config": str(CONFIG.relative_to(ROOT)),
        "arms": with_earlier(stamped(summary(measured, info), args.steps, args.repeats)),
    }
    path = write_results("mitigation_cost", doc)
    print(f"written to {path.relative_to(ROOT)}")
    for a, d in doc["arms"].items():
        step, run, ratio = d["seconds_per_step"], d["projected_train_seconds"], d["ratio_vs_parent"]
        print(f"{a:8s} {step:.3f} s/step  projected {run:.0f} s  {ratio:.2f}x")


if __name__ == "__main__":
    main()
