"""Robustness on the SST-2 MiniLM run: the mitigations' effect over several seeds, against retraining
noise, and (with --pwws) fairtune's attack against TextAttack's PWWS.

Run from the project root, with nothing else running (hours on 2 cores: every arm trains MiniLM on SST-2
once per seed, and the parent is trained once per seed too):

    .venv/bin/python bench/robustness.py [--seeds 3] [--arms a2t adv pgd both] [--pwws [--n 200]]

1. The parent: `fairtune train configs/sst2-minilm.yaml` unless OUTPUT_DIR/sst2-minilm is trained.
2. With --pwws: PWWS (Ren et al. 2019) through TextAttack 0.3, in its own virtual environment
   (`bench/textattack_env.sh` builds it), on N SST-2 dev sentences chosen by a seeded permutation;
   fairtune's attack then runs on exactly those sentences with PWWS's constraints. Without it, the
   entries of the last such comparison are kept: from this host class's robustness.json, else from the
   newest other host class's (their "from" says which file).
3. `fairtune mitigate RUN --robustness ARM --seeds N` for each arm (pgd is `adv --adv-method pgd`): the
   parent and the child are each trained with N seeds (runs already trained with the same config are
   reused, so a stopped bench continues) and audited on the same attack sample with the same
   constraints. The first arm re-audits the parent's runs. Results are written after each arm.

The best arm is the one with the largest mean relative reduction of attack_success_rate and
invariance_failure_rate among those that cost at most 1 point of dev accuracy.
Results: bench/results/<host-class>/robustness.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np

from _common import ROOT, MitigationBench, add_reaudit_flag, fairtune, newest_results, run_arms

METRICS = {
    "attack_success_rate": "robustness.attack_success_rate",
    "accuracy_under_attack": "robustness.accuracy_under_attack",
    "invariance_failure_rate": "robustness.invariance_failure_rate",
    "dev_accuracy": "eval.accuracy",
    "dev_ece": "eval.ece",
}
TARGETS = {"attack_success_rate": 0.3, "invariance_failure_rate": 0.5}
MAX_ACCURACY_DROP_POINTS = 1.0
#: arm -> the `fairtune mitigate` arguments and the child it writes
ARMS = {
    "adv": (["--robustness", "adv"], "robustness-adv"),
    "pgd": (["--robustness", "adv", "--adv-method", "pgd"], "robustness-adv-pgd"),
    "a2t": (["--robustness", "a2t"], "robustness-a2t"),
    # twice the attacked share on the second half of training only
    "a2t-late": (
        ["--robustness", "a2t", "--a2t-share", "0.25", "--a2t-start", "0.5"],
        "robustness-a2t-a2t0.25-start0.5",
    ),
    "both": (["--robustness", "both"], "robustness-both"),
    # both, with A2T's attacked and perturbed copies (as many as `both` makes) on the second half of training
    "both-late": (
        ["--robustness", "both", "--a2t-share", "0.25", "--perturb-share", "0.5", "--a2t-start", "0.5"],
        "robustness-both-a2t0.25-perturb0.5-start0.5",
    ),
    # both, with an embedding radius three times the default's (FreeLB++: a larger bound helps)
    "both-eps0.3": (["--robustness", "both", "--epsilon", "0.3"], "robustness-both-eps0.3"),
    # both, and a quarter of each batch also trained on a copy with random synonym swaps (no queries)
    "both-syn0.25": (["--robustness", "both", "--synonym-share", "0.25"], "robustness-both-syn0.25"),
    # both, with the attack ranking words by their embedding gradient (A2T's own ranking) instead of
    # leave-one-out
    "both-grad": (["--robustness", "both", "--a2t-ranking", "gradient"], "robustness-both-grad"),
    # both, with A2T's perturbed copies drawn from every invariance test of the audit, not the core twelve
    "both-pertall": (["--robustness", "both", "--a2t-perturbations", "all"], "robustness-both-pertall"),
    # both-pertall plus a consistency term on the copies: 4 * KL(p(original) || p(copy)), original held fixed
    "both-pertall-kl4": (
        ["--robustness", "both", "--a2t-perturbations", "all", "--a2t-consistency", "4"],
        "robustness-both-pertall-kl4",
    ),
    # the same at half the consistency weight: kl4 cost 1.2 points of dev accuracy over 5 seeds
    "both-pertall-kl2": (
        ["--robustness", "both", "--a2t-perturbations", "all", "--a2t-consistency", "2"],
        "robustness-both-pertall-kl2",
    ),
    # both-pertall-kl2 with the word-recognition front end before the model (typos corrected)
    "both-pertall-kl2-wr": (
        [
            "--robustness",
            "both",
            "--a2t-perturbations",
            "all",
            "--a2t-consistency",
            "2",
            "--word-recognition",
        ],
        "robustness-both-pertall-kl2-wr",
    ),
    # both-pertall with the embedding radius of both-eps0.3
    "both-pertall-eps0.3": (
        ["--robustness", "both", "--epsilon", "0.3", "--a2t-perturbations", "all"],
        "robustness-both-eps0.3-pertall",
    ),
    "augment": (["--robustness", "augment"], "robustness-augment"),
}
CONFIG = "configs/sst2-minilm.yaml"
DEV = ROOT.parent / "shared" / "data" / "sst2_glue" / "dev.tsv"


def pwws(run: Path, n: int, seed: int) -> dict[str, Any]:
    subprocess.check_call(["bash", str(ROOT / "bench" / "textattack_env.sh")], cwd=ROOT)
    out = ROOT / "bench" / "logs" / "pwws.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    py = ROOT / "bench" / ".venv-textattack" / "bin" / "python"
    cmd = [str(py), "bench/_pwws_runner.py", "--model", str(run / "model"), "--data", str(DEV)]
    subprocess.check_call([*cmd, "--n", str(n), "--seed", str(seed), "--out", str(out)], cwd=ROOT)
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def fairtune_attack(run: Path, indices: list[int]) -> dict[str, Any]:
    import csv

    import torch

    from fairtune.audits.robustness import AttackSettings, WordSubstitutionAttack
    from fairtune.data import load_wordnet
    from fairtune.models import TorchClassifier

    torch.set_num_threads(os.cpu_count() or 1)
    with DEV.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    texts = [rows[i][0] for i in indices]
    labels = np.array([int(rows[i][1]) for i in indices])
    cfg = json.loads((run / "model" / "config.json").read_text())
    clf = TorchClassifier.from_dir(run / "model", max_length=66)
    assert clf.labels == [cfg["id2label"]["0"], cfg["id2label"]["1"]]
    wn = load_wordnet()
    settings = AttackSettings(max_change=1.0, min_similarity=None, query_budget=None, pos_agreement=False,
                              max_candidates=10_000)  # fmt: skip
    out = WordSubstitutionAttack(clf, wn, settings).run(texts, labels)
    out["adversarial"] = out["adversarial"][:5]
    return out


def compare_attacks(run: Path, n: int, seed: int) -> dict[str, Any]:
    """PWWS and fairtune's attack with PWWS's constraints on the same N dev sentences."""
    p = pwws(run, n, seed)
    ours = fairtune_attack(run, p["indices"])
    keys = (
        "attack_success_rate",
        "queries_per_example",
        "seconds",
        "skipped",
        "succeeded",
        "failed",
        "recipe",
    )
    mine = ("attack_success_rate", "queries_per_example", "seconds", "skipped", "succeeded", "attacked")
    return {
        "pwws": {k: p[k] for k in keys},
        "fairtune_attack": {**{k: ours[k] for k in mine}, "constraints": ours["constraints"]},
        "speedup": p["seconds"] / ours["seconds"],
        "comparison_n": len(p["indices"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arms", nargs="+", default=["a2t", "adv", "pgd", "both"], choices=list(ARMS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pwws", action="store_true", help="run the PWWS comparison again")
    ap.add_argument("--n", type=int, default=200, help="sentences for the PWWS comparison")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output-dir", default="runs")
    add_reaudit_flag(ap)
    args = ap.parse_args()
    run = ROOT / args.output_dir / "sst2-minilm"
    if not (run / "model" / "config.json").is_file():
        fairtune("train", CONFIG, "--no-progress", f"output_dir={args.output_dir}")
    if args.pwws:
        attacks = compare_attacks(run, args.n, args.seed)
    else:
        path = newest_results("robustness", having="pwws")
        if path is None:
            raise SystemExit("no earlier PWWS comparison in bench/results/*/robustness.json: run with --pwws")
        earlier = json.loads(path.read_text())
        keys = ("pwws", "fairtune_attack", "speedup", "comparison_n")
        attacks = {k: earlier[k] for k in keys} | {"from": earlier.get("from") or f"{path.relative_to(ROOT)}"}
    bench = MitigationBench(
        "robustness", ARMS, METRICS, TARGETS, tuple(TARGETS), MAX_ACCURACY_DROP_POINTS,
        keep=("adversarial", "attack"),
    )  # fmt: skip
    run_arms(bench, run, args.arms, args.seeds, CONFIG, attacks, args.reaudit)


if __name__ == "__main__":
    main()
