"""ASGI and WSGI middleware: each request gets its session, request id and a server span."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from opentelemetry import baggage, propagate
from opentelemetry.trace import SpanKind, Status, StatusCode

from hlog_sdk.context import (
    HEADER,
    HIGHLIGHT_HEADER,
    SESSION_KEY,
    RequestContext,
    activate,
    new_request_id,
    parse_header,
)
from hlog_sdk.setup import tracer


def _incoming(headers: dict[str, str]) -> tuple[RequestContext, Any]:
    """The request's session and the OpenTelemetry context to start its server span in (with the
    session in baggage, so calls made while handling it carry it on)."""
    parent = propagate.extract(headers)
    request = request_context(headers, parent)
    if request.session_id:
        parent = baggage.set_baggage(SESSION_KEY, request.session_id, parent)
    return request, parent


def request_context(headers: dict[str, str], otel_context: Any) -> RequestContext:
    """From x-hlog-request (or x-highlight-request), else W3C baggage `session.id`, else no session."""
    for name in (HEADER, HIGHLIGHT_HEADER):
        if headers.get(name):
            parsed = parse_header(headers[name])
            if parsed is not None:
                return parsed
    session = baggage.get_baggage(SESSION_KEY, otel_context)
    return RequestContext(str(session) if session else "", new_request_id())


@contextlib.contextmanager
def _handling(headers: dict[str, str], method: str, path: str) -> Iterator[list[int]]:
    """The request's session made current and its SERVER span; append the status code to the list."""
    request, parent = _incoming(headers)
    status: list[int] = []
    # the session is current before the span starts, so the span carries it too
    with (
        activate(request),
        tracer().start_as_current_span(f"{method} {path}", context=parent, kind=SpanKind.SERVER) as span,
    ):
        span.set_attribute("http.request.method", method)
        span.set_attribute("url.path", path)
        try:
            yield status
        except Exception as err:
            span.record_exception(err)
            span.set_status(Status(StatusCode.ERROR, type(err).__name__))
            raise
        finally:
            if status:
                span.set_attribute("http.response.status_code", status[0])
                if status[0] >= 500:
                    span.set_status(Status(StatusCode.ERROR, f"HTTP {status[0]}"))


class ASGIMiddleware:
    """Wrap an ASGI app: `app = ASGIMiddleware(app)`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        with _handling(headers, scope.get("method", "GET"), scope.get("path", "/")) as status:

            async def send_wrapper(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])
                await send(message)

            await self.app(scope, receive, send_wrapper)


class WSGIMiddleware:
    """Wrap a WSGI app: `app.wsgi_app = WSGIMiddleware(app.wsgi_app)`."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        with _handling(headers, environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")) as status:

            def start_wrapper(status_line: str, response_headers: Any, exc_info: Any = None) -> Any:
                status.append(int(status_line.split(" ", 1)[0]))
                return start_response(status_line, response_headers, exc_info)

            # the body is produced inside the request's context
            yield from self.app(environ, start_wrapper)
