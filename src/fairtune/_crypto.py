"""Encryption at rest for the run artifacts that hold training text (the config's `encryption:` section).

An encrypted file is one ASCII header line, which names the format and the environment variable whose key
wrote it, followed by a Fernet token (AES-128-CBC with an HMAC-SHA256 tag, from `cryptography`):

    fairtune-encrypted v1 FAIRTUNE_KEY
    gAAAAABm...

Writers hand the run's `EncryptionConfig` (or None) to the atomic writers of `fairtune._io`, which call
`seal`. Readers need no config: `read_bytes` (and `_io.read_json`, the data readers, the checkpoint loader)
decrypts a file that starts with the header, with the key in the variable the header names, and passes any
other file through unchanged. A missing key, another key or an altered file is an `EncryptionError` that
names the file and the variable; a reader never sees garbage.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fairtune.errors import (
    ENCRYPTED_BAD_KEY,
    ENCRYPTED_NO_KEY,
    ENCRYPTED_UNKNOWN_FORMAT,
    ENCRYPTED_WRONG_KEY,
    KEY_ENV_UNSET,
    KEY_NOT_FERNET,
    EncryptionError,
)

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

#: How every encrypted file starts; the rest of its first line is "<version> <variable>".
MAGIC = b"fairtune-encrypted "
VERSION = "v1"
#: An environment variable's name, as the config and the header hold it.
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class KeySource(Protocol):
    """What a writer needs to know: the variable that holds the key (an `EncryptionConfig`)."""

    key_env: str


def generate_key() -> str:
    """A new random Fernet key, as the text to put in the key variable."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def _fernet(value: str) -> Fernet | None:
    """The cipher for a key's text, or None when it is not a Fernet key."""
    from cryptography.fernet import Fernet

    try:
        return Fernet(value.strip())
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        return None


def key_problem(env: str) -> str | None:
    """Why the variable `env` cannot encrypt (unset, empty, not a Fernet key), or None when it can."""
    value = os.environ.get(env)
    if not value:
        return KEY_ENV_UNSET.format(env=env)
    return None if _fernet(value) is not None else KEY_NOT_FERNET.format(env=env)


def check_key(encryption: KeySource | None) -> None:
    """Refuse at once, before any heavy work, a config that asks for encryption without a usable key."""
    if encryption is not None and (problem := key_problem(encryption.key_env)):
        raise EncryptionError(problem)


def seal(data: bytes, encryption: KeySource | None) -> bytes:
    """`data` encrypted with the key in `encryption.key_env`, behind the header; unchanged when None."""
    if encryption is None:
        return data
    check_key(encryption)
    cipher = _fernet(os.environ[encryption.key_env])
    assert cipher is not None  # check_key refused anything else
    return MAGIC + f"{VERSION} {encryption.key_env}\n".encode("ascii") + cipher.encrypt(data)


def is_sealed(raw: bytes) -> bool:
    return raw.startswith(MAGIC)


def is_sealed_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file at `path` is encrypted (reads only its first bytes)."""
    with open(path, "rb") as fh:
        return is_sealed(fh.read(len(MAGIC)))


def unseal(raw: bytes, path: str | os.PathLike[str]) -> bytes:
    """The plaintext of an encrypted file's bytes `raw`; every failure names `path` and the variable."""
    from cryptography.fernet import InvalidToken

    header, _, token = raw.partition(b"\n")
    fields = header[len(MAGIC) :].decode("ascii", "replace").split(" ")
    if len(fields) != 2 or fields[0] != VERSION or not re.match(ENV_NAME, fields[1]):
        shown = header[:80].decode("latin-1")
        raise EncryptionError(ENCRYPTED_UNKNOWN_FORMAT.format(path=path, header=shown))
    env = fields[1]
    value = os.environ.get(env)
    if not value:
        raise EncryptionError(ENCRYPTED_NO_KEY.format(path=path, env=env))
    cipher = _fernet(value)
    if cipher is None:
        raise EncryptionError(ENCRYPTED_BAD_KEY.format(path=path, env=env))
    try:
        return cipher.decrypt(token)
    except InvalidToken:
        raise EncryptionError(ENCRYPTED_WRONG_KEY.format(path=path, env=env)) from None


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The contents of `path`, decrypted when the file is encrypted."""
    raw = Path(path).read_bytes()
    return unseal(raw, path) if is_sealed(raw) else raw
