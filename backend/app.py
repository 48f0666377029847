"""The backend as a plain object: store, ingest committer, search, and the ASGI app over them."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hlog.backend import __version__, http_api, http_otlp
from hlog.backend.access import Gatekeeper
from hlog.backend.explore import Explorer
from hlog.backend.ingest import FLUSH_INTERVAL_SECONDS, MAX_PENDING_RECORDS, Committer
from hlog.backend.limits import DEFAULT_LIMITS, Limits
from hlog.backend.search import LogSearch
from hlog.backend.store import SCAN_ROWS_LIMIT
from hlog.backend.views import ViewStore

READ_TIMEOUT_SECONDS = 60.0  # a search's reads, by default (hlog serve --query-timeout)

if TYPE_CHECKING:
    from hlog.backend.store import Store

SERVICE_NAME = "hlog"
# every method reaches the OTLP handlers, which answer all but POST with a Status (405)
OTLP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


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
        ingest_needs_token: bool = False,
        allowed_hosts: Sequence[str] = (),
        limits: Limits = DEFAULT_LIMITS,
        ingest: bool = True,
        wal_dir: Path | None = None,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        scan_rows_limit: int = SCAN_ROWS_LIMIT,
    ) -> None:
        self.store = store
        store.read_timeout = read_timeout  # every search's reads: stopped in the store past it
        store.scan_rows_limit = scan_rows_limit
        self.extensions = list(extensions)
        self.limits = limits
        self.committer = Committer(store, max_pending_records, flush_interval, limits=limits, wal_dir=wal_dir)
        if store.target.otel is not None:
            self.committer.refuse("hlog reads the OpenTelemetry Collector's tables here: send logs to the Collector")
        elif not ingest:  # a search opened on the store: it reads, `hlog serve` receives
            self.committer.refuse("this process only reads the store: send logs to `hlog serve`")
        self.search = LogSearch(store)
        self.explorer = Explorer(store)
        self.views = ViewStore(store)
        # the API always needs a token: without one, a random one that only this process knows
        self.token = token or secrets.token_urlsafe(32)
        self.ingest_needs_token = ingest_needs_token
        self.allowed_hosts = list(allowed_hosts)
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
        """200 "ok", or 503 "degraded" with the reason while ingest cannot write its log or the store."""
        stats = self.committer.stats
        problem = self.committer.problem
        return JSONResponse(
            {
                "status": "degraded" if problem else "ok",
                **({"reason": problem} if problem else {}),
                "service": SERVICE_NAME,
                "version": __version__,
                "store": self.store.target.describe(),
                "ingest": {**stats.__dict__, "pending_records": self.committer.pending_records},
                **{k: v for ext in self.extensions if hasattr(ext, "health") for k, v in ext.health().items()},
            },
            503 if problem else 200,
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
            Route("/v1/logs", http_otlp.only_post(logs), methods=OTLP_METHODS),
            Route("/v1/traces", http_otlp.only_post(traces), methods=OTLP_METHODS),
            Route("/v1/metrics", http_otlp.only_post(http_otlp.metrics), methods=OTLP_METHODS),
            Route("/api/logs", http_api.logs, methods=["GET"]),
            Route("/api/logs/count", http_api.count, methods=["GET"]),
            Route("/api/logs/histogram", http_api.histogram, methods=["GET"]),
            Route("/api/logs/estimate", http_api.estimate, methods=["GET"]),
            Route("/api/facets", http_api.facets, methods=["GET"]),
            Route("/api/patterns", http_api.patterns, methods=["GET"]),
            Route("/api/views", http_api.views, methods=["GET"]),
            Route("/api/views/{name:path}", http_api.view, methods=["GET", "PUT", "DELETE"]),
            Route("/api/logs/{log_id}", http_api.one_log, methods=["GET"]),
            Route("/api/logs/{log_id}/context", http_api.context, methods=["GET"]),
            Route("/api/traces/{trace_id}", http_api.trace, methods=["GET"]),
            Route("/api/sessions/{session_id:path}", http_api.session, methods=["GET"]),
            Route("/api/keys", http_api.keys, methods=["GET"]),
            Route("/api/keys/{key:path}/values", http_api.values, methods=["GET"]),
        ]
        for extension in self.extensions:
            routes.extend(extension.routes)
        routes.append(Route("/v1/{rest:path}", http_otlp.not_found, methods=OTLP_METHODS))
        app = Starlette(routes=routes, lifespan=lifespan)
        app.state.backend = self
        app.add_middleware(
            Gatekeeper,
            token=self.token,
            ingest_needs_token=self.ingest_needs_token,
            allowed_hosts=self.allowed_hosts,
        )
        return app
