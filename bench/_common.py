"""Helpers the benchmark scripts share."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GATE_FAILED = 3  # `fairtune run`: a gate failed, but the run itself completed


def fairtune(*args: str) -> float:
    """Run one fairtune command in its own process from the project root; return its wall seconds."""
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    t0 = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "fairtune", *args], cwd=ROOT, env=env)
    if code not in (0, GATE_FAILED):
        raise SystemExit(f"fairtune {' '.join(args)} failed with exit code {code}")
    return time.perf_counter() - t0


def trained_run(config: Path, *verb: str) -> Path:
    """The run directory of `config` (a path under ROOT), made first with `fairtune <verb> CONFIG` (default
    `run`) if it has no trained model yet."""
    from fairtune.config import load_config

    cfg = load_config(config)
    run = ROOT / cfg.output_dir / cfg.name
    if not (run / "model" / "config.json").is_file():
        fairtune(*(verb or ("run",)), str(config.relative_to(ROOT)))
    return run


def seed_runs(root: Path) -> list[Path]:
    """The run at `root` (the first seed) and its seeds/seed-<s> replicas, in seed order (`fairtune mitigate
    --seeds` writes them there)."""
    return [root, *sorted((root / "seeds").glob("seed-*"), key=lambda p: int(p.name.split("-")[1]))]


def scratch_copy(run: Path, suffix: str) -> Path:
    """A fresh run directory RUN-SUFFIX holding the run's config, metrics, audits and a link to its model:
    a benchmark that audits or updates works there and leaves the run itself (and any benchmark reading
    it meanwhile) as it is."""
    import shutil

    out = run.parent / f"{run.name}-{suffix}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for name in ("config.yaml", "metrics.json"):
        shutil.copy(run / name, out / name)
    shutil.copytree(run / "audit", out / "audit", ignore=shutil.ignore_patterns("privacy-reference"))
    (out / "model").symlink_to((run / "model").resolve())
    return out


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def host_class() -> str:
    """gpu-<name>, amx, avx512-bf16, avx512, avx2 or other: numbers from different classes are never
    compared as one ratio."""
    import torch

    if torch.cuda.is_available():
        return "gpu-" + torch.cuda.get_device_name(0).lower().replace(" ", "-")
    flags = cpu_flags()
    if "amx_tile" in flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512-bf16"
    if "avx512f" in flags:
        return "avx512"
    return "avx2" if "avx2" in flags else "other"


#: The ISA features a result depends on, as /proc/cpuinfo names them.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
#: What each CPU host class implies about them (host_class() decides on the first flag present).
HOST_CLASS_ISA = {
    "amx": {"avx2": True, "avx512f": True, "avx512_vnni": True, "avx512_bf16": True, "amx_tile": True},
    "avx512-bf16": {
        "avx2": True,
        "avx512f": True,
        "avx512_vnni": True,
        "avx512_bf16": True,
        "amx_tile": False,
    },
    "avx512": {"avx2": True, "avx512f": True, "avx512_bf16": False, "amx_tile": False},
    "avx2": {"avx2": True, "avx512f": False, "avx512_vnni": False, "avx512_bf16": False, "amx_tile": False},
}
RESULTS_DIR = ROOT / "bench" / "results"


def _machine_block(
    host: str,
    *,
    cpu: str | None,
    cores: int | None,
    isa: dict[str, bool | None],
    torch: str | None,
    torch_threads: int | None,
    gpu: str | None,
    python: str | None,
    date: str | None,
) -> dict[str, object]:
    """The one shape of a machine block (measured or reconstructed)."""
    return {
        "host_class": host,
        "cpu": cpu,
        "cores": cores,
        "isa": {f: isa.get(f) for f in ISA_FLAGS},
        "torch": torch,
        "torch_threads": torch_threads,
        "gpu": gpu,
        "python": python,
        "date": date,
    }


def machine(*, reconstructed: dict[str, Any] | None = None) -> dict[str, object]:
    """The machine block every result carries: what ran it, so a number is never read off another host.

    `reconstructed` describes a result written before results carried this block: {"host_class", "date",
    "evidence"} plus whatever the old file recorded itself ("cpu", "cores", "torch", "torch_threads",
    "python"). Fields nobody recorded are None; the ISA features are those its host class implies; and
    the block gets "reconstructed": the evidence its host class rests on."""
    if reconstructed is not None:
        r = dict(reconstructed)
        host = r.pop("host_class")
        evidence = r.pop("evidence")
        block = _machine_block(
            host,
            cpu=r.pop("cpu", None),
            cores=r.pop("cores", None),
            isa=dict(HOST_CLASS_ISA.get(host, {})),
            torch=r.pop("torch", None),
            torch_threads=r.pop("torch_threads", None),
            gpu=r.pop("gpu", None),
            python=r.pop("python", None),
            date=r.pop("date", None),
        )
        if r:
            raise TypeError(f"machine(reconstructed=...): unknown fields {sorted(r)}")
        return {**block, "reconstructed": evidence}

    import platform
    from datetime import UTC, datetime

    import torch

    model = ""
    with contextlib.suppress(OSError):
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in ln
            ),
            "",
        )
    flags = cpu_flags()
    return _machine_block(
        host_class(),
        cpu=model or platform.processor(),
        cores=os.cpu_count(),
        isa={f: f in flags for f in ISA_FLAGS},
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        python=platform.python_version(),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def results_path(name: str, host: str | None = None) -> Path:
    """bench/results/<host-class>/<name>.json: this machine's class unless `host` is given."""
    return RESULTS_DIR / (host or host_class()) / f"{name}.json"


def read_results(name: str, path: Path | None = None) -> dict[str, Any] | None:
    """An earlier result: `path` if given, else this host class's bench/results/<host-class>/<name>.json;
    None if there is none. Numbers from another host class are never merged into this one's."""
    import json

    target = path or results_path(name)
    return json.loads(target.read_text()) if target.is_file() else None  # type: ignore[no-any-return]


def newest_results(name: str, *, having: str | None = None) -> Path | None:
    """The newest bench/results/<any-host-class>/<name>.json (by its machine block's date), among those
    with the key `having`: where a part of a result is carried over from an earlier run (this host
    class's first)."""
    import json

    own = results_path(name)
    found = []
    for path in sorted(RESULTS_DIR.glob(f"*/{name}.json")):
        doc = json.loads(path.read_text())
        if having is None or having in doc:
            found.append((path == own, str(doc.get("machine", {}).get("date") or ""), path))
    return max(found)[2] if found else None


def write_results(
    name: str, doc: dict[str, object], *, path: Path | None = None, top_level: bool = False
) -> Path:
    """Write `doc` with this machine's block, atomically, to bench/results/<host-class>/<name>.json (or to
    `path`, where a script's --results/--out asks for another file); return the path written. With
    `top_level`, the same document also goes to bench/results/<name>.json: the newest host's copy, at the
    fixed path that reviewers' scripts read (the mitigation benchmarks' format)."""
    import json

    block = machine()
    target = path or RESULTS_DIR / str(block["host_class"]) / f"{name}.json"
    text = json.dumps({**{k: v for k, v in doc.items() if k != "machine"}, "machine": block}, indent=2) + "\n"
    for out in (target, RESULTS_DIR / f"{name}.json") if top_level else (target,):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(out)
    return target


def arm_results(doc: dict[str, Any], metrics: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parent, arm) from one mitigation.json: each result name in `metrics` (-> the compared metric)
    as {"mean", "ci95", "values"} over seeds; the arm also gets "diff" (child - parent: mean, Welch 95%
    interval, relative change, verdict) and its training time against the parent's."""
    rows = {r["metric"]: r for r in doc["comparison"]}
    parent: dict[str, Any] = {}
    arm: dict[str, Any] = {}
    diff: dict[str, Any] = {}
    for name, metric in metrics.items():
        r = rows.get(metric)
        if r is None:
            continue
        parent[name] = {"mean": r["parent"], "ci95": r["parent_ci95"], "values": r["parent_values"]}
        arm[name] = {"mean": r["child"], "ci95": r["child_ci95"], "values": r["child_values"]}
        diff[name] = {
            "mean": r["delta"],
            "ci95": r["diff_ci95"],
            "relative": r["relative"],
            "verdict": r["verdict"],
        }
    times = doc["train_seconds"]
    arm.update(
        seeds=len(doc["seeds"]), diff=diff, train_seconds=times["child"], train_seconds_ratio=times["ratio"]
    )
    parent["train_seconds"] = times["parent"]
    return parent, arm


def judge_arm(
    arm: dict[str, Any],
    reductions: dict[str, float],
    excluding_0: tuple[str, ...],
    max_drop_points: float,
    timed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Each target, met or not: the mean relative reduction of each metric in `reductions` (share), the
    interval of the difference below 0 for those in `excluding_0`, at most `max_drop_points` of dev
    accuracy, at most 3x the parent's training time: the arm's entry in the side-by-side cost table
    (`timed`, bench/mitigation_cost.py) where it has one, else the seed runs' own times (from a machine
    that may have been shared); "time_from" says which."""
    d = arm["diff"]
    out: dict[str, Any] = {}
    for name, share in reductions.items():
        rel = d.get(name, {}).get("relative")
        out[f"{name}_reduced_{round(share * 100)}pct"] = rel is not None and rel <= -share
    for name in excluding_0:
        ci = d.get(name, {}).get("ci95")
        out[f"{name}_interval_excludes_0"] = ci is not None and ci[1] < 0
    drop = -100 * d["dev_accuracy"]["mean"]
    out["accuracy_drop_points"] = drop
    out["accuracy_within_budget"] = drop <= max_drop_points
    ratio = arm["train_seconds_ratio"] if timed is None else timed["ratio_vs_parent"]
    out["time_ratio"] = ratio
    out["time_from"] = "seed runs" if timed is None else "bench/mitigation_cost.py"
    out["time_within_3x"] = ratio <= 3.0
    out["all_met"] = all(v for v in out.values() if isinstance(v, bool))
    return out


def best_arm(arms: dict[str, Any], reductions: dict[str, float]) -> str:
    """The arm with the largest mean relative reduction over `reductions`' metrics, among those within
    the accuracy budget (of all arms if none is)."""

    def score(name: str) -> float:
        rel = [arms[name]["diff"].get(k, {}).get("relative") for k in reductions]
        known = [r for r in rel if r is not None]
        return -sum(known) / len(known) if known else float("-inf")

    cheap = [a for a in arms if arms[a]["targets"]["accuracy_within_budget"]]
    return max(cheap or list(arms), key=score)


def print_arm(name: str, arm: dict[str, Any]) -> None:
    print(name, flush=True)
    for metric, d in arm["diff"].items():
        ci = d["ci95"]
        shown = f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "-"
        print(f"  {metric}: {d['mean']:+.4f} {shown} {d['verdict']}", flush=True)


@dataclass(frozen=True)
class MitigationBench:
    """A seeded mitigation benchmark: which arms, which metrics, which targets."""

    name: str  # results file: bench/results/<host-class>/<name>.json
    arms: dict[str, tuple[list[str], str]]  # arm -> (`fairtune mitigate` arguments, child folder or glob)
    metrics: dict[str, str]  # result name -> compared metric in mitigation.json
    targets: dict[str, float]  # result name -> relative reduction asked for
    excluding_0: tuple[str, ...]  # results whose interval of the difference must lie below 0
    max_drop_points: float  # dev accuracy budget
    keep: tuple[str, ...] = ()  # mitigation.json fields copied into each arm


def mitigate_choice(flags: list[str]) -> tuple[str, str, dict[str, Any]]:
    """(kind, method, options) of `fairtune mitigate RUN *flags`, parsed by the command's own parser: a
    benchmark that builds an arm's config itself reads the same arm table the seeded benchmarks run."""
    import argparse

    from fairtune.cli._mitigate import add_arguments, mitigation_options

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["RUN", *flags])
    kind = next(k for k in ("fairness", "robustness", "privacy") if getattr(args, k))
    return kind, getattr(args, kind), {k: v for k, v in mitigation_options(args).items() if v is not None}


def add_reaudit_flag(ap: Any) -> None:
    """`--no-reaudit` (dest `reaudit`) for a mitigation benchmark's argument parser."""
    ap.add_argument(
        "--no-reaudit",
        dest="reaudit",
        action="store_false",
        help="keep the parent runs' audits where they are current (default: the first arm re-audits them; "
        "either way, an audit written by another version of the auditor is redone)",
    )


def earlier_arms(name: str, chosen: list[str]) -> dict[str, Any]:
    """The arms of this host class's earlier results that this run does not repeat, each with its own
    number of seeds: a benchmark run for one more arm, or for more seeds of one arm, keeps the others'
    numbers. An arm with fewer seeds was compared with the parent's first seeds, which are the same runs."""
    earlier = _seeded_results(name)
    if not earlier:
        return {}
    return {
        arm: {"seeds": earlier["seeds"], **rec}
        for arm, rec in earlier.get("arms", {}).items()
        if arm not in chosen
    }


def first_seeds(block: dict[str, Any], n: int) -> dict[str, Any]:
    """A parent block over its first `n` seeds: each entry's mean and 95% interval of those values."""
    from fairtune.evaluation import mean_ci

    return {k: mean_ci(v["values"][:n]) for k, v in block.items() if isinstance(v, dict) and v.get("values")}


def earlier_parent(name: str) -> tuple[int, dict[str, Any]]:
    """(seeds, parent block) of this host class's earlier results ((0, {}) if none)."""
    earlier = _seeded_results(name)
    return (int(earlier["seeds"]), earlier["parent"]) if earlier else (0, {})


def _seeded_results(name: str) -> dict[str, Any] | None:
    """This host class's earlier results of a mitigation benchmark, if in the seed-based format (the
    older single-seed files have no seeds, parent block or arms to keep)."""
    earlier = read_results(name)
    return earlier if earlier and all(k in earlier for k in ("seeds", "parent", "arms")) else None


def child_document(run: Path, child: str) -> Path:
    """The mitigation.json of the arm's child: a folder name, or a glob for a swept arm, whose child is
    named after the value the sweep chose (the newest match)."""
    found = sorted(run.glob(f"mitigate/{child}/mitigation.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"no mitigation.json under {run}/mitigate/{child}: did the arm's mitigate run?")
    return found[-1]


def run_arms(
    bench: MitigationBench,
    run: Path,
    chosen: list[str],
    seeds: int,
    config: str,
    extra: dict[str, Any],
    reaudit: bool = True,
) -> None:
    """`fairtune mitigate` for each chosen arm over `seeds` seeds (with `reaudit`, the first arm re-audits
    the parent's runs), writing the results after each arm, so a stopped benchmark keeps what it
    measured. Without `reaudit`, arms measured earlier and not chosen now are kept, with their seeds,
    and so is the parent's block where it has more seeds than this run. Each arm carries the parent's
    block it was compared with (its seeds, audited when it ran), which the file's parent block may not be."""
    import json

    # earlier arms stay only where the parents keep the audits those arms were compared against
    arms: dict[str, Any] = {} if reaudit else earlier_arms(bench.name, chosen)
    kept_seeds, kept_parent = (0, {}) if reaudit else earlier_parent(bench.name)
    timed = (read_results("mitigation_cost") or {}).get("arms", {})

    def judge(a: str) -> dict[str, Any]:  # against the cost table as it is now
        return judge_arm(arms[a], bench.targets, bench.excluding_0, bench.max_drop_points, timed.get(a))

    for a, rec in arms.items():  # the parent each earlier arm was compared with, as it was audited then
        rec.setdefault("parent", first_seeds(kept_parent, rec["seeds"]))
        rec["targets"] = judge(a)
    where = run.relative_to(ROOT)
    for k, arm in enumerate(chosen):
        flags, child = bench.arms[arm]
        again = ["--reaudit"] if k == 0 and reaudit else []
        wall = fairtune("mitigate", str(where), *flags, "--seeds", str(seeds), "--no-progress", *again)
        doc = json.loads(child_document(run, child).read_text())
        parent, arms[arm] = arm_results(doc, bench.metrics)
        arms[arm].update({key: doc.get(key) for key in bench.keep}, mitigate_wall_seconds=wall, parent=parent)
        arms[arm]["targets"] = judge(arm)
        best = best_arm(arms, bench.targets)
        commands = [
            f"fairtune mitigate {where} {' '.join(bench.arms[a][0])} --seeds {arms[a].get('seeds', seeds)}"
            for a in arms
        ]
        top_seeds, top_parent = (kept_seeds, kept_parent) if kept_seeds > seeds else (seeds, parent)
        path = write_results(
            bench.name,
            {
                "seeds": top_seeds,
                "parent": top_parent,
                "arms": arms,
                "best": best,
                "best_meets_all_targets": arms[best]["targets"]["all_met"],
                **extra,
                "config": config,
                "commands": commands,
            },
            top_level=True,
        )
        print(f"written to {path.relative_to(ROOT)}", flush=True)
        print_arm(arm, arms[arm])
