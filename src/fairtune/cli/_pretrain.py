"""fairtune pretrain CONFIG [KEY=VALUE ...]"""

from __future__ import annotations

import argparse

from fairtune.cli._common import add_config_args, console, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_args(p)
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of this run")
    p.add_argument("--overwrite", action="store_true", help="discard this run's model and checkpoints first")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    cfg = load(args)
    from fairtune.workflows.pretrain import pretrain

    m = pretrain(cfg, resume=args.resume, overwrite=args.overwrite, show_progress=not args.no_progress)[
        "pretrain"
    ]
    out = console()
    head = "a new MLM head tied to the input embeddings" if m["new_mlm_head"] else "the checkpoint's MLM head"
    out.print(
        f"pretrained {m['steps']} steps on {m['train_texts']} texts in {m['minutes']:.1f} min, with {head}; "
        f"held-out perplexity {m['perplexity_before']:.1f} -> {m['perplexity']:.1f} ({m['eval_texts']} texts)"
    )
    out.print(f"model: {cfg.output_dir}/{cfg.name}/model (use it as model.name in a training config)")
    return 0
