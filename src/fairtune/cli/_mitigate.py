"""fairtune mitigate RUN_DIR --fairness cda|clp|both | --robustness adv|augment|both | --privacy dp|redact"""

from __future__ import annotations

import argparse

from fairtune.cli._common import console


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a trained run directory, e.g. runs/sst2-minilm")
    p.add_argument(
        "--fairness",
        choices=["cda", "clp", "both"],
        help="cda: counterfactual data augmentation; clp: counterfactual logit pairing; both: together",
    )
    p.add_argument("--clp-lambda", type=float, help="weight of the logit-pairing loss (default 1.0)")
    p.add_argument(
        "--robustness",
        choices=["adv", "augment", "both"],
        help="adv: adversarial training on input embeddings; augment: add attack- and perturbation-made "
        "copies of training texts; both: together",
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
        "--overwrite", action="store_true", help="discard an existing child run of this mitigation first"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines instead)")


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from fairtune.workflows.mitigate import mitigate

    err = console(stderr=True)
    docs = mitigate(
        args.run_dir,
        fairness=args.fairness,
        robustness=args.robustness,
        privacy=args.privacy,
        options={
            "dp_epsilon": args.dp_epsilon,
            "dp_batch_size": args.dp_batch_size,
            "dp_lr": args.dp_lr,
            "clp_lambda": args.clp_lambda,
            "adv_method": args.adv_method,
            "epsilon": args.epsilon,
            "steps": args.steps,
            "augment_examples": args.augment_examples,
        },
        overwrite=args.overwrite,
        show_progress=not args.no_progress,
        log=err.print,
    )
    out = console()
    for doc in docs:
        t = Table(title=f"{doc['kind']} mitigation '{doc['method']}': {doc['parent']} -> {doc['child']}")
        for col in ("metric", "parent", "child", "delta", "relative"):
            t.add_column(col, justify="left" if col == "metric" else "right")
        for r in doc["comparison"]:
            rel = f"{r['relative']:+.1%}" if r["relative"] is not None else "-"
            colour = "green" if r["improved"] else "red"
            t.add_row(
                r["metric"],
                f"{r['parent']:.4f}",
                f"{r['child']:.4f}",
                f"[{colour}]{r['delta']:+.4f}[/{colour}]",
                rel,
            )
        out.print(t)
    return 0
