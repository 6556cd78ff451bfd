"""Fairness mitigations on the SST-2 MiniLM run, each arm over several seeds, against retraining noise.

Run from the project root, with nothing else running (several hours on 2 cores: every arm trains MiniLM
on SST-2 once per seed, and the parent is trained once per seed too):

    .venv/bin/python bench/fairness.py [--seeds 3] [--arms balance all-tp16 cda clp all] [--output-dir runs]

1. The parent: `fairtune train configs/sst2-minilm.yaml` unless OUTPUT_DIR/sst2-minilm is trained.
2. `fairtune mitigate RUN --fairness METHOD [...] --seeds N` for each arm (`all-tp16` is `all
   --template-pairs 16`; `all-tp16-sweep` first chooses CLP's weight among 0.25, 0.5 and 1 on a
   validation split of train, one training per value): the parent and the child are each
   trained with N seeds (runs already trained with the same config are reused, so a stopped bench
   continues where it stopped) and audited with the same settings. The first arm re-audits the parent's
   runs, so all of them are measured by this version of the audit.
3. Every metric's mean over seeds with a 95% t-interval, and the difference child - parent with its
   Welch interval, come from the arm's mitigation.json. Results are written after each arm.

The best arm is the one with the largest mean relative reduction of identity_fped, template_spread_max
and flip_rate among those that cost at most 0.5 points of dev accuracy (of all arms if none does).
Results: bench/results/<host-class>/fairness.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, MitigationBench, add_reaudit_flag, fairtune, run_arms

CONFIG = "configs/sst2-minilm.yaml"
#: result name -> metric in mitigation.json
METRICS = {
    "identity_fped": "fairness.identity_fped",
    "identity_fned": "fairness.identity_fned",
    "identity_auc_spread": "fairness.identity_auc_spread",
    "template_spread_max": "fairness.template_spread_max",
    "flip_rate": "fairness.flip_rate",
    # the flips' continuous companion: the parent flips 0 to 4 of 369 dev pairs a seed, too few to halve
    "mean_abs_delta": "fairness.mean_abs_delta",
    "eec_gender_gap": "fairness.eec_gender_gap",
    "eec_race_gap": "fairness.eec_race_gap",
    "dev_accuracy": "eval.accuracy",
    "dev_ece": "eval.ece",
}
#: arm -> the `fairtune mitigate` arguments and the child it writes
ARMS = {
    "balance": (["--fairness", "balance"], "fairness-balance"),
    "cda": (["--fairness", "cda"], "fairness-cda"),
    "clp": (["--fairness", "clp"], "fairness-clp"),
    "all": (["--fairness", "all"], "fairness-all"),
    "all-tp16": (["--fairness", "all", "--template-pairs", "16"], "fairness-all-tp16"),
    # all-tp16 with the pairing weight chosen on a validation split of train, against the accuracy budget
    "all-tp16-sweep": (
        ["--fairness", "all", "--template-pairs", "16", "--sweep", "clp_lambda=0.25,0.5,1"],
        "fairness-all-tp16-clp*",
    ),
    # one input embedding per lexicon swap set, pronouns included (train.tie_terms)
    "tie-pron": (["--fairness", "tie", "--tie-pronouns"], "fairness-tie-pron"),
    # all-tp16 at the weight all-tp16-sweep chose, with the terms and pronouns tied
    "all-tp16-clp0.25-tie-pron": (
        ["--fairness", "all", "--template-pairs", "16", "--clp-lambda", "0.25", "--tie-pronouns"],
        "fairness-all-tp16-clp0.25-tie-pron",
    ),
}
TARGETS = {"identity_fped": 0.5, "template_spread_max": 0.5, "flip_rate": 0.5}
EXCLUDING_0 = ("identity_fped", "template_spread_max")
MAX_ACCURACY_DROP_POINTS = 0.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arms", nargs="+", default=["balance", "all-tp16", "cda", "clp"], choices=list(ARMS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--output-dir", default="runs")
    add_reaudit_flag(ap)
    args = ap.parse_args()
    run = ROOT / args.output_dir / "sst2-minilm"
    if not (run / "model" / "config.json").is_file():
        fairtune("train", CONFIG, "--no-progress", f"output_dir={args.output_dir}")
    bench = MitigationBench(
        "fairness", ARMS, METRICS, TARGETS, EXCLUDING_0, MAX_ACCURACY_DROP_POINTS,
        keep=("counterfactual", "identity_balance", "tie_terms"),
    )  # fmt: skip
    run_arms(bench, run, args.arms, args.seeds, CONFIG, {}, args.reaudit)


if __name__ == "__main__":
    main()
