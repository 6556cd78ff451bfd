"""fairtune mitigate RUN_DIR --fairness cda|clp|both|balance|all|tie | --robustness adv|augment|both
| --privacy dp|redact [--seeds N]"""

from __future__ import annotations

import argparse
from typing import Any

from fairtune.cli._common import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a trained run directory, e.g. runs/sst2-minilm")
    p.add_argument(
        "--fairness",
        choices=["cda", "clp", "both", "balance", "all", "tie"],
        help="cda: counterfactual data augmentation; clp: counterfactual logit pairing; both: cda and clp; "
        "balance: identity-balanced template sentences; all: the three; tie: one input embedding per "
        "lexicon swap set (train.tie_terms)",
    )
    p.add_argument(
        "--tie",
        action="store_true",
        help="fairness: also tie the input embeddings of each lexicon swap set's one-wordpiece terms, so "
        "swapping them cannot change a prediction",
    )
    p.add_argument(
        "--tie-pronouns",
        action="store_true",
        help="fairness: tie gender pronouns too (he/she, his/her/him/hers); implies --tie. The EEC then no "
        "longer measures transfer for pronoun sentences",
    )
    p.add_argument("--clp-lambda", type=float, help="weight of the logit-pairing loss (default 1.0)")
    p.add_argument(
        "--template-pairs",
        type=int,
        help="clp: template pairs per step, 0 for training texts only (default 16)",
    )
    p.add_argument(
        "--dimensions",
        nargs="+",
        metavar="DIM",
        help="fairness: lexicon dimensions the mitigation covers (default: all 7, e.g. gender race religion)",
    )
    p.add_argument(
        "--balance-per-phrase",
        type=int,
        help="balance: positive and as many negative sentences per identity phrase (default 6)",
    )
    p.add_argument(
        "--robustness",
        choices=["adv", "a2t", "augment", "both"],
        help="adv: adversarial training on input embeddings (FGM or PGD); a2t: train on word-substitution "
        "attacks and perturbations of each batch, made with the model being trained (A2T); augment: add "
        "copies of training texts attacked and perturbed once with the parent; both: a2t and adv",
    )
    p.add_argument("--a2t-share", type=float, help="a2t: share of each batch attacked (default 0.125)")
    p.add_argument("--perturb-share", type=float, help="a2t: share of each batch perturbed (default 0.25)")
    p.add_argument(
        "--synonym-share",
        type=float,
        help="a2t: share of each batch that also trains on a copy with random synonym swaps, "
        "no model queries (default: none)",
    )
    p.add_argument(
        "--a2t-ranking",
        choices=["leave_one_out", "gradient"],
        help="a2t: how the attack orders a text's words: one query per word (leave_one_out, the default) or "
        "one gradient pass per batch (gradient, as A2T)",
    )
    p.add_argument(
        "--a2t-perturbations",
        choices=["core", "all"],
        help="a2t: the invariance perturbations the perturbed copies draw from: the twelve core ones (the "
        "default) or all the audit's, its wording ones too",
    )
    p.add_argument(
        "--a2t-consistency",
        type=float,
        help="a2t: weight of a consistency term on the copies, the KL divergence from the prediction on "
        "the original text to the prediction on its copy (default: none)",
    )
    p.add_argument(
        "--a2t-start",
        type=float,
        help="a2t: share of the training steps taken before the first attack (default 0.1)",
    )
    p.add_argument(
        "--word-recognition",
        action="store_true",
        help="robustness: also put a spelling front end before the model, built from the training texts "
        "(model.word_recognition): typos are put right before the model reads a text",
    )
    p.add_argument("--adv-method", choices=["fgm", "pgd"], help="adversarial training method (default fgm)")
    p.add_argument(
        "--epsilon",
        type=float,
        help="L2 radius of the embedding perturbation, as a share of each example's embedding norm "
        "(default 0.1)",
    )
    p.add_argument("--steps", type=int, help="PGD steps (default 3)")
    p.add_argument(
        "--augment-examples",
        type=int,
        help="training texts attacked and perturbed for augment (default 2000)",
    )
    p.add_argument(
        "--privacy",
        choices=["dp", "redact"],
        help="dp: retrain with DP-SGD (train.privacy); redact: retrain on PII-redacted text (data.redact)",
    )
    p.add_argument("--dp-epsilon", type=float, help="privacy budget ε for --privacy dp (default 8)")
    p.add_argument(
        "--dp-batch-size", type=int, help="expected batch for --privacy dp (DP wants large ones, e.g. 1024)"
    )
    p.add_argument("--dp-lr", type=float, help="learning rate for --privacy dp (default: the parent's)")
    p.add_argument(
        "--seeds",
        type=int,
        help="train the parent and the child with this many seeds and compare means with 95%% intervals "
        "(default: the config's mitigate.seeds, 1)",
    )
    p.add_argument(
        "--sweep",
        metavar="KEY=V1,V2,...",
        help="first choose this option's value on a validation split of the training rows (never the eval "
        "split): the parent's recipe and each value are trained once and audited there; the value with the "
        "lowest harm within the accuracy budget is used. Keys: clp_lambda, template_pairs, "
        "balance_per_phrase (fairness); epsilon, steps, a2t_share, perturb_share, a2t_start, "
        "synonym_share (robustness)",
    )
    p.add_argument(
        "--validation-share",
        type=float,
        default=0.1,
        help="share of the training rows held out for --sweep (default 0.1)",
    )
    p.add_argument(
        "--reaudit",
        action="store_true",
        help="audit the parent's runs again even where their audits are current (an audit written by another "
        "version of the auditor, or under other settings, is redone anyway)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="discard an existing child run of this mitigation first"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines instead)")


def run(args: argparse.Namespace) -> int:
    from fairtune.cli._common import require_run

    require_run(args.run_dir, data=True)
    from fairtune.workflows.mitigate import mitigate

    err = console(stderr=True)
    docs = mitigate(
        args.run_dir,
        fairness=args.fairness,
        robustness=args.robustness,
        privacy=args.privacy,
        options=mitigation_options(args),
        seeds=args.seeds,
        sweep=args.sweep,
        validation_share=args.validation_share,
        reaudit=args.reaudit,
        overwrite=args.overwrite,
        show_progress=not args.no_progress,
        log=err.print,
    )
    out = console()
    for doc in docs:
        out.print(comparison_table(doc))
    return 0


def mitigation_options(args: argparse.Namespace) -> dict[str, Any]:
    """The mitigation's options as `workflows.mitigate` takes them (None: not given)."""
    return {
        "dp_epsilon": args.dp_epsilon,
        "dp_batch_size": args.dp_batch_size,
        "dp_lr": args.dp_lr,
        "clp_lambda": args.clp_lambda,
        "template_pairs": args.template_pairs,
        "balance_per_phrase": args.balance_per_phrase,
        "dimensions": args.dimensions,
        "adv_method": args.adv_method,
        "epsilon": args.epsilon,
        "steps": args.steps,
        "augment_examples": args.augment_examples,
        "a2t_share": args.a2t_share,
        "perturb_share": args.perturb_share,
        "a2t_start": args.a2t_start,
        "synonym_share": args.synonym_share,
        "a2t_ranking": args.a2t_ranking,
        "a2t_perturbations": args.a2t_perturbations,
        "a2t_consistency": args.a2t_consistency,
        "word_recognition": args.word_recognition or None,
        "tie": args.tie or None,
        "tie_pronouns": args.tie_pronouns or None,
    }


def _interval(ci: list[float] | None) -> str:
    return f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "-"


def comparison_table(doc: dict) -> Any:
    """The before/after table: means over seeds, the difference with its 95% interval, the verdict."""
    from rich.table import Table

    n = len(doc.get("seeds", [1]))
    t = Table(
        title=f"{doc['kind']} mitigation '{doc['method']}', {n} seed{'s' if n > 1 else ''}",
        caption=f"{doc['parent']} -> {doc['child']}; means over seeds; delta = child - parent with its 95% "
        "interval (Welch)",
    )
    # The metric name never wraps (it is what users grep for); the verdict folds on narrow terminals.
    t.add_column(
        "metric", no_wrap=True, min_width=max((len(r["metric"]) for r in doc["comparison"]), default=6)
    )
    for col in ("parent", "child", "delta", "95% CI"):
        t.add_column(col, justify="right")
    t.add_column("verdict", overflow="fold")
    colours = {"improved": "green", "worse": "red"}
    for r in doc["comparison"]:
        verdict = r.get("verdict", "")
        colour = colours.get(verdict, "yellow")
        t.add_row(
            r["metric"],
            f"{r['parent']:.4f}",
            f"{r['child']:.4f}",
            f"{r['delta']:+.4f}",
            _interval(r.get("diff_ci95")),
            f"[{colour}]{verdict}[/{colour}]",
        )
    return t
