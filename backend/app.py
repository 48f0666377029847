"""The backend as a plain object: store, ingest committer, search, and the ASGI app over them."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Protocol

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from backend import __version__, http_api, http_otlp
from backend.explore import Explorer
from backend.ingest import FLUSH_INTERVAL_SECONDS, MAX_PENDING_RECORDS, Committer
from backend.search import LogSearch

if TYPE_CHECKING:
    from backend.store import Store

SERVICE_NAME = "hlog"
CORS_HEADERS = [
    "content-type",
    "content-encoding",
    "authorization",
    "x-hlog-request",
    "x-highlight-request",
    "traceparent",
    "tracestate",
    "baggage",
]
_OPEN_PATHS = frozenset({"/healthz"})


class _BearerAuth:
    """Requires `Authorization: Bearer <token>` on every path but /healthz."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in _OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse(
                    {"error": {"type": "auth", "message": "missing or wrong bearer token"}},
                    401,
                    {"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Extension(Protocol):
    """Something the backend runs alongside itself (the alert service): routes and a lifecycle.
    The composition roots (`hlog serve`, hlog-tui) pass them in; this module imports none."""

    routes: list[Route]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Backend:
    """Everything `hlog serve` runs. `app` is the ASGI application; start()/stop() run the
    ingest writer (the app's lifespan calls them; in-process users call them directly)."""

    def __init__(
        self,
        store: Store,
        token: str | None = None,
        max_pending_records: int = MAX_PENDING_RECORDS,
        extensions: Sequence[Extension] = (),
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        self.store = store
        self.extensions = list(extensions)
        self.committer = Committer(store, max_pending_records, flush_interval)
        self.search = LogSearch(store)
        self.explorer = Explorer(store)
        self.token = token
        self.app = self._build_app()

    async def start(self) -> None:
        """Start background work (the ingest writer, the extensions)."""
        await self.committer.start()
        for extension in self.extensions:
            await extension.start()

    async def stop(self) -> None:
        """Stop the extensions, commit what is queued and stop the writer."""
        for extension in reversed(self.extensions):
            await extension.stop()
        await self.committer.stop()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Backend]:
        """start() on enter, stop() on exit."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def _healthz(self, request: Request) -> Response:
        stats = self.committer.stats
        return JSONResponse(
            {
                "status": "ok",
                "service": SERVICE_NAME,
                "version": __version__,
                "store": self.store.target.describe(),
                "ingest": {**stats.__dict__, "pending_records": self.committer.pending_records},
            }
        )

    def _build_app(self) -> Starlette:
        async def logs(request: Request) -> Response:
            return await http_otlp.export(request, "logs")

        async def traces(request: Request) -> Response:
            return await http_otlp.export(request, "traces")

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with self.running():
                yield

        routes = [
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/v1/logs", logs, methods=["POST"]),
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/api/logs", http_api.logs, methods=["GET"]),
            Route("/api/logs/count", http_api.count, methods=["GET"]),
            Route("/api/logs/histogram", http_api.histogram, methods=["GET"]),
            Route("/api/traces/{trace_id}", http_api.trace, methods=["GET"]),
            Route("/api/sessions/{session_id}", http_api.session, methods=["GET"]),
            Route("/api/keys", http_api.keys, methods=["GET"]),
            Route("/api/keys/{key}/values", http_api.values, methods=["GET"]),
        ]
        for extension in self.extensions:
            routes.extend(extension.routes)
        app = Starlette(routes=routes, lifespan=lifespan)
        app.state.backend = self
        if self.token:
            app.add_middleware(_BearerAuth, token=self.token)
        # browsers send their own logs with the session header: allow it (added last: outermost,
        # so preflight requests are answered before authentication)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=CORS_HEADERS,
            max_age=600,
        )
        return app
