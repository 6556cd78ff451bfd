"""fairtune train CONFIG [KEY=VALUE ...]"""

from __future__ import annotations

import argparse

from fairtune.cli._common import add_config_args, console, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of this run")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="discard this run's model, checkpoints and later outputs first",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    cfg = load(args)
    from fairtune.cli._evaluate import print_metrics
    from fairtune.workflows.train import train

    metrics = train(cfg, resume=args.resume, overwrite=args.overwrite, show_progress=not args.no_progress)
    if metrics:
        t = metrics["train"]
        out = console()
        out.print(
            f"trained {t['steps']} steps on {t['n_train']} examples in {t['train_seconds']:.0f}s "
            f"({t['samples_per_second']:.0f} samples/s, {t['precision']}, {t['world_size']} process(es))"
        )
        print_metrics(metrics["eval"], title=f"eval: {metrics['eval']['source']}")
        out.print(f"run directory: {cfg.output_dir}/{cfg.name}")
    return 0
