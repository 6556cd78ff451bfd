"""HTTPS for `fairtune serve`: the certificate and key are checked before anything loads, so a file that
does not parse is a usage error naming it, not a server that starts and then fails every handshake."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from fairtune.errors import TLS_BAD_FILES, TLS_HALF, TLS_MISSING, FairtuneError


def tls_options(certfile: str | None, keyfile: str | None) -> dict[str, Any]:
    """uvicorn's `ssl_certfile`/`ssl_keyfile` for a certificate chain (PEM) and its private key; {} for
    plain HTTP. Both or neither."""
    if not certfile and not keyfile:
        return {}
    if not certfile or not keyfile:
        given, missing = (
            ("--ssl-certfile", "--ssl-keyfile") if certfile else ("--ssl-keyfile", "--ssl-certfile")
        )
        raise FairtuneError(TLS_HALF.format(given=given, missing=missing))
    for flag, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if not Path(path).is_file():
            raise FairtuneError(TLS_MISSING.format(flag=flag, path=path))
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, ValueError) as exc:
        raise FairtuneError(TLS_BAD_FILES.format(cert=certfile, key=keyfile, detail=exc)) from None
    return {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
