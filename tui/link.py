"""How the TUI reaches a backend: a running one over HTTP, or one started inside this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hlog.backend.access import TokenError, load_or_create_token
from hlog.backend.app import Backend
from hlog.backend.client import ApiClient, default_backend_url, in_process_http, probe, remote_http
from hlog.backend.connections import server_config
from hlog.backend.store import Store, StoreError, default_store_dsn, parse_dsn

log = logging.getLogger(__name__)
INGEST_HOST = "127.0.0.1"
INGEST_PORT = 4318


@dataclass
class Link:
    """A connected API client and what it is connected to; close() releases everything."""

    api: ApiClient
    where: str
    backend: Backend | None = None
    ingest_url: str | None = None
    _server: Any = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop what runs beside the app, the ingest listener and backend; close the client and the store."""
        for callback in self.on_close:
            await asyncio.to_thread(callback)
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)
        await self.api.http.aclose()
        if self.backend is not None:
            await self.backend.stop()
            self.backend.store.close()


def in_process(backend: Backend) -> ApiClient:
    """An API client talking to `backend` inside this process (no socket)."""
    return ApiClient(in_process_http(backend), backend.store.target.describe())


async def _serve_ingest(backend: Backend, link: Link, port: int = INGEST_PORT) -> None:
    """Listen for OTLP on 127.0.0.1:4318 (or `port`; 0 picks one) when it is free, so apps keep sending logs."""
    import uvicorn

    sock = socket.socket(socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a previous run's TIME_WAIT must not block it
    try:
        sock.bind((INGEST_HOST, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        log.info("port %d is busy; the embedded backend does not receive OTLP", port)
        return
    port = sock.getsockname()[1]

    class QuietServer(uvicorn.Server):
        """The TUI owns the terminal and its signals; uvicorn must not install handlers."""

        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            yield

    config = server_config(backend.app, lifespan="off", log_level="critical", access_log=False)
    server = QuietServer(config)
    link._server = server
    link.ingest_url = f"http://{INGEST_HOST}:{port}"
    link._tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="hlog-ingest"))


async def connect(
    backend_url: str | None,
    store_dsn: str | None,
    token: str | None = None,
    serve_ingest: bool = True,
    ingest_port: int = INGEST_PORT,
) -> Link:
    """A running backend when one answers (and no store was named), else one in this process.
    A backend the user named (--backend, $HLOG_BACKEND) must answer: no quiet fallback."""
    if store_dsn is None:
        url = backend_url or default_backend_url()
        if await probe(url):
            return Link(ApiClient(remote_http(url, token), f"backend {url}"), f"backend {url}")
        if backend_url or os.environ.get("HLOG_BACKEND"):
            raise StoreError(f"the backend {url} does not answer (is `hlog serve` running there?)")
    target = parse_dsn(store_dsn or default_store_dsn())
    if target.otel is not None:  # the Collector writes its tables: read them
        store = await asyncio.to_thread(Store, store_dsn)
        # on a ClickHouse server the rules are `hlog serve --source otel`'s to evaluate (one
        # evaluator a state database: two would both fire); an embedded engine is this process's
        return await embed(with_alerts(store, owner=target.kind != "http"))
    if target.kind == "http":
        # a ClickHouse server is fed by `hlog serve`: only read it (a user with SELECT is enough)
        store = await asyncio.to_thread(Store, store_dsn, migrate=False)
        return await embed(with_alerts(store, owner=False))
    store = await asyncio.to_thread(Store, store_dsn)
    return await embed(with_alerts(store), serve_ingest, ingest_port)


def with_alerts(store: Store, owner: bool = True) -> Backend:
    """A backend on `store` that also serves alert rules. As its `owner` (an embedded store), it
    also receives OTLP and evaluates the rules, as `hlog serve` does; its API takes the user's
    token, so `hlog search` can go through it."""
    from hlog.alerts.service import AlertService

    try:
        token: str | None = load_or_create_token()
    except TokenError as err:
        log.warning("%s; the API of this process takes a token of its own", err)
        token = None
    return Backend(store, token=token, extensions=[AlertService(store, evaluate=owner)], ingest=owner)


async def embed(backend: Backend, serve_ingest: bool = False, ingest_port: int = INGEST_PORT) -> Link:
    """A link to a backend object in this process; optionally also receiving OTLP (on :4318 by default)."""
    await backend.start()
    link = Link(in_process(backend), backend.store.target.describe(), backend)
    if serve_ingest:
        await _serve_ingest(backend, link, ingest_port)
    return link
