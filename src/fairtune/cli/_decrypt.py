"""fairtune decrypt FILE: print the plaintext of a file fairtune encrypted (the config's `encryption:`)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="an encrypted file of a run, e.g. runs/NAME/data/card.json")
    p.epilog = "Needs the key it was written with, in the variable its first line names (e.g. FAIRTUNE_KEY)."


def run(args: argparse.Namespace) -> int:
    from fairtune._crypto import is_sealed_file, read_bytes
    from fairtune.cli._common import require_file
    from fairtune.errors import NOT_ENCRYPTED, EncryptionError

    require_file("file", args.file)
    if not is_sealed_file(args.file):
        raise EncryptionError(NOT_ENCRYPTED.format(path=args.file))
    sys.stdout.buffer.write(read_bytes(args.file))
    sys.stdout.flush()
    return 0
