"""Argument helpers shared by the verbs (kept free of heavy imports)."""

from __future__ import annotations

import argparse
from typing import Any


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="override config values, e.g. train.lr=3e-5 data.max_train_rows=2000",
    )


def load(args: argparse.Namespace) -> Any:
    from fairtune.config import load_config

    return load_config(args.config, args.overrides)


def require_run(run_dir: str, *, model: bool = True, data: bool = False) -> None:
    """Refuse a missing (or untrained) run directory at once, before torch or transformers is imported.
    `data`: the command reads the run's training data or writes more, so a run that encrypts it
    (`encryption:`) needs its key set."""
    from pathlib import Path

    from fairtune._rundir import RunDir

    run = RunDir(Path(run_dir))
    if model:
        run.require_model()
    else:
        run.require()
    if data and run.config.is_file():
        _require_key(run.config)


def _require_key(config: Any) -> None:
    from fairtune._crypto import key_problem
    from fairtune.config import read_yaml
    from fairtune.errors import RUN_KEY_MISSING, EncryptionError

    enc = read_yaml(config).get("encryption")
    env = str(enc.get("key_env", "FAIRTUNE_KEY")) if isinstance(enc, dict) else None
    if env is not None and key_problem(env):
        raise EncryptionError(RUN_KEY_MISSING.format(path=config.parent, env=env))


def require_file(flag: str, path: str | None) -> None:
    """Refuse a file argument that names no file, at once (no heavy import)."""
    from pathlib import Path

    from fairtune.errors import FairtuneError

    if path and not Path(path).is_file():
        raise FairtuneError(f"{flag}: file not found: {path}. Check the path (relative to {Path.cwd()}).")


def loading(what: str) -> Any:
    """A spinner on stderr while `what` loads (torch, transformers and the weights take seconds)."""
    return console(stderr=True).status(f"loading {what} ...", spinner="dots")


def texts_from_args(args: argparse.Namespace, none_given: str) -> list[str]:
    """Texts given as arguments plus those read from --file [--column]; none at all is an error."""
    from fairtune.errors import FairtuneError

    texts = list(args.texts)
    if args.file:
        from fairtune.data import read_texts

        texts.extend(read_texts(args.file, args.column))
    if not texts:
        raise FairtuneError(none_given)
    return texts


#: width of tables written to a file or a pipe (CI logs, `| tee`): wide enough that no table wraps
PIPE_WIDTH = 160


def console(stderr: bool = False) -> Any:
    """A rich console; on a terminal it follows the terminal's width, elsewhere it is at least PIPE_WIDTH
    wide (rich would use 80 or $COLUMNS)."""
    from rich.console import Console

    c = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not c.is_terminal:
        c.width = max(c.width, PIPE_WIDTH)
    return c
