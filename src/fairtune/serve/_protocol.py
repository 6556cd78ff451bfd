"""uvicorn's HTTP protocol with the bounds it lacks: a time limit on each request's head and a size
limit on it.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a connection that never
sends a request, or sends its headers a byte at a time, is kept forever, and with the httptools parser
(the fast one) a request head of any size is buffered. Here every request head must arrive whole within
`head_timeout` seconds of the connection opening (or of the previous response) and within
`max_head_bytes`; otherwise the connection gets 408 or 431 and is closed. Bodies are bounded by the app
(size, and time in `Guard`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_END = b"\r\n\r\n"


def guarded_protocol(head_timeout: float, max_head_bytes: int) -> type[HttpToolsProtocol]:
    """A protocol class for `uvicorn.run(http=...)` with these two bounds."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_bytes = 0
            self._head_timer: asyncio.TimerHandle | None = None
            self._arm()

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_bytes = 0
                self._head_timer = self.loop.call_later(head_timeout, self._refuse, 408, b"Request Timeout")

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _refuse(self, status: int, reason: bytes) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.write(
                    b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n" % (status, reason)
                )
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._head_timer is not None:  # still reading a request head
                room = max_head_bytes - self._head_bytes
                if len(data) > room and HEAD_END not in data[: room + len(HEAD_END)]:
                    self._refuse(431, b"Request Header Fields Too Large")
                    return
                self._head_bytes += len(data)
            super().data_received(data)

        def on_message_begin(self) -> None:
            self._arm()
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next head is timed (and counted) from here; an idle connection meets
            # uvicorn's shorter keep-alive timeout first

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedHttpToolsProtocol


def server_options(head_timeout: float, max_head_bytes: int, max_connections: int) -> dict[str, Any]:
    """uvicorn settings for fairtune serve: the guarded protocol, a 5 s keep-alive, a connection limit."""
    return {
        "http": guarded_protocol(head_timeout, max_head_bytes),
        "timeout_keep_alive": 5,
        "limit_concurrency": max_connections,
    }
