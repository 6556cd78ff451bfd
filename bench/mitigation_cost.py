"""What each mitigation costs in training time, measured side by side in one process on a quiet machine.

Run from the project root, with nothing else running (about 30 minutes on 2 cores):

    .venv/bin/python bench/mitigation_cost.py [--steps 200] [--repeats 2] [--arms ...]

Each arm trains MiniLM on SST-2 from the same start for `--steps` optimizer steps with the parent's
config plus the arm's mitigation keys (what `fairtune mitigate` sets), and the wall time of those steps
is measured (the first 10 steps are warm-up and not counted). Arms run in turn, `--repeats` times, in
an interleaved order, so that drift of a shared machine falls on every arm alike. The projected cost
of a whole run is seconds per step x the arm's steps per epoch (identity balance adds rows, so it takes
more steps); A2T attacks only after its first 10% of steps, which the projection accounts for. The
ratio to the parent's projection is what the mitigation targets bound (at most 3x).
Results: bench/results/<host-class>/mitigation_cost.json.
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
from _common import ROOT, write_results

CONFIG = ROOT / "configs" / "sst2-minilm.yaml"
WARMUP = 10
#: arm -> (kind, method, options) as `fairtune mitigate` takes them
ARMS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "parent": ("", "", {}),
    "cda": ("fairness", "cda", {}),
    "clp": ("fairness", "clp", {}),
    "balance": ("fairness", "balance", {}),
    "all": ("fairness", "all", {}),
    "all-tp16": ("fairness", "all", {"template_pairs": 16}),
    "adv": ("robustness", "adv", {}),
    "pgd": ("robustness", "adv", {"adv_method": "pgd"}),
    "a2t": ("robustness", "a2t", {}),
    "both": ("robustness", "both", {}),
}


def arm_config(name: str, out: Path) -> Any:
    from fairtune.config import load_config
    from fairtune.workflows.mitigate import child_config

    parent = load_config(CONFIG).model_copy(update={"output_dir": str(out)})
    kind, method, options = ARMS[name]
    return parent if not kind else child_config(parent, out / "sst2-minilm", kind, method, options)


def seconds_per_step(cfg: Any, steps: int) -> dict[str, Any]:
    """Train `steps` + warm-up steps of `cfg` in a scratch folder; time the steps after warm-up."""
    import torch

    from fairtune.data import load_task_data
    from fairtune.mitigations import apply_data_transforms
    from fairtune.models import build_classifier
    from fairtune.training import Trainer
    from fairtune.training._loop import schedule

    torch.manual_seed(cfg.seed)
    data = load_task_data(cfg.data, cfg.seed)
    _, extras = apply_data_transforms(cfg, data)
    full_steps = schedule(cfg.train, len(data.train))[1]
    model, tok = build_classifier(cfg.model, data.label_names)
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
    start = cfg.train.attack.start if cfg.train.attack is not None else 0.0
    return {"seconds_per_step": statistics.mean(times), "full_run_steps": full_steps, "plain_share": start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    args = ap.parse_args()
    arms = ["parent", *[a for a in args.arms if a != "parent"]]
    measured: dict[str, list[float]] = {a: [] for a in arms}
    info: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cost-runs-") as out:
        for r in range(args.repeats):
            for a in arms if r % 2 == 0 else arms[::-1]:
                res = seconds_per_step(arm_config(a, Path(out)), args.steps)
                measured[a].append(res["seconds_per_step"])
                info[a] = res
                print(f"{a}: {res['seconds_per_step']:.3f} s/step", flush=True)
    parent_step = statistics.mean(measured["parent"])
    parent_run = parent_step * info["parent"]["full_run_steps"]
    doc: dict[str, Any] = {
        "steps_timed": args.steps,
        "repeats": args.repeats,
        "config": str(CONFIG.relative_to(ROOT)),
    }
    doc["arms"] = {}
    for a in arms:
        step = statistics.mean(measured[a])
        plain = info[a]["plain_share"]  # A2T's first steps cost what the parent's do
        run = info[a]["full_run_steps"] * (plain * parent_step + (1 - plain) * step)
        doc["arms"][a] = {
            "seconds_per_step": step,
            "seconds_per_step_runs": measured[a],
            "full_run_steps": info[a]["full_run_steps"],
            "projected_train_seconds": run,
            "ratio_vs_parent": run / parent_run,
            "within_3x": run / parent_run <= 3.0,
        }
    path = write_results("mitigation_cost", doc)
    print(f"written to {path.relative_to(ROOT)}")
    for a, d in doc["arms"].items():
        step, run, ratio = d["seconds_per_step"], d["projected_train_seconds"], d["ratio_vs_parent"]
        print(f"{a:8s} {step:.3f} s/step  projected {run:.0f} s  {ratio:.2f}x")


if __name__ == "__main__":
    main()
