"""fairtune keygen: print a new key for encryption at rest (the config's `encryption:` section)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Put the key in the variable that encryption.key_env names (FAIRTUNE_KEY unless set otherwise), "
        "e.g. export FAIRTUNE_KEY=$(fairtune keygen), and keep a copy somewhere safe (a secrets manager): "
        "the files written with it cannot be read without it."
    )


def run(args: argparse.Namespace) -> int:
    from fairtune._crypto import generate_key

    print(generate_key())
    if sys.stdout.isatty():
        print(
            "a new Fernet key: export it as FAIRTUNE_KEY (or encryption.key_env's variable) and keep a copy",
            file=sys.stderr,
        )
    return 0
