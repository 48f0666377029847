"""The HTTP server's guard against stalled clients: time limits on reading a request, a cap on connections.

uvicorn times out idle keep-alive connections, but not a connection that opened and never
finished its request line and headers, nor a body that stops arriving: such connections
keep a file descriptor each, and once the process has none left, the store's own files
cannot be opened ("Too many open files") and acknowledged records cannot be moved into it.
So a request's headers must arrive within HEADERS_TIMEOUT_SECONDS of the connection (or of
the previous answer on it), and its body may pause at most BODY_IDLE_TIMEOUT_SECONDS.
Past MAX_CONNECTIONS, the connection that has waited longest for its headers is closed to
make room; when none is waiting, the new one is answered 503.
"""

from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict
from typing import Any

HEADERS_TIMEOUT_SECONDS = 10.0
BODY_IDLE_TIMEOUT_SECONDS = 30.0
MAX_CONNECTIONS = 8_000
_BUSY_TEXT = b"too many open connections\n"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    + f"Content-Length: {len(_BUSY_TEXT)}\r\nConnection: close\r\n\r\n".encode()
    + _BUSY_TEXT
)


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        return hard
    return soft


def guarded_protocol(max_connections: int = MAX_CONNECTIONS) -> type[asyncio.Protocol]:
    """The HTTP protocol class to give uvicorn (Config(http=...)), with the limits above."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # (uvicorn: only to serve)

    # connections still waiting for their request's headers, oldest first (shared by this server)
    waiting: OrderedDict[int, GuardedProtocol] = OrderedDict()

    class GuardedProtocol(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self) -> None:
            waiting.pop(id(self), None)
            if not self.transport.is_closing():
                self.transport.close()

        def _wait_for_headers(self) -> None:
            waiting[id(self)] = self
            self._arm(HEADERS_TIMEOUT_SECONDS)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                if waiting:  # make room: the connection that has waited longest for its headers goes
                    _, oldest = waiting.popitem(last=False)
                    oldest._too_slow()
                else:
                    transport.write(_BUSY)
                    transport.close()
                    return
            self._wait_for_headers()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._timer is not None and id(self) not in waiting and not self.transport.is_closing():
                self._arm(BODY_IDLE_TIMEOUT_SECONDS)  # a body is arriving: it may pause, not stall

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if id(self) not in waiting:  # the next request on a kept-alive connection
                self._wait_for_headers()

        def on_headers_complete(self) -> None:
            waiting.pop(id(self), None)
            self._arm(BODY_IDLE_TIMEOUT_SECONDS)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            waiting.pop(id(self), None)
            super().connection_lost(exc)

    return GuardedProtocol


def server_config(app: Any, max_connections: int = MAX_CONNECTIONS, **options: Any) -> Any:
    """A uvicorn Config for `app` with the guarded protocol."""
    import uvicorn

    return uvicorn.Config(app, http=guarded_protocol(max_connections), **options)
