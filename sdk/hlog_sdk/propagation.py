"""Outgoing calls carry the session on: httpx (and requests, when installed) add x-hlog-request,
W3C traceparent and baggage, inside a client span."""

from __future__ import annotations

import functools
from typing import Any

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode

from hlog_sdk.context import HEADER, current
from hlog_sdk.setup import tracer

_installed = False


def _outgoing_headers() -> dict[str, str]:
    headers: dict[str, str] = {}
    propagate.inject(headers)
    request = current()
    if request is not None and request.session_id:
        headers[HEADER] = request.header()
    return headers


def install() -> None:
    """Patch httpx (and requests) once; calls made outside a request are left alone."""
    global _installed
    if _installed:
        return
    _installed = True
    _install_httpx()
    _install_requests()


def _install_httpx() -> None:
    try:
        import httpx
    except ImportError:  # not a dependency of the SDK: patched when the application has it
        return

    original_send = httpx.Client.send
    original_async_send = httpx.AsyncClient.send

    @functools.wraps(original_send)
    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if current() is None:
            return original_send(self, request, **kwargs)
        with tracer().start_as_current_span(
            f"{request.method} {request.url.host}{request.url.path}", kind=SpanKind.CLIENT
        ) as span:
            request.headers.update(_outgoing_headers())
            response = original_send(self, request, **kwargs)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
            return response

    @functools.wraps(original_async_send)
    async def async_send(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if current() is None:
            return await original_async_send(self, request, **kwargs)
        with tracer().start_as_current_span(
            f"{request.method} {request.url.host}{request.url.path}", kind=SpanKind.CLIENT
        ) as span:
            request.headers.update(_outgoing_headers())
            response = await original_async_send(self, request, **kwargs)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
            return response

    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = async_send  # type: ignore[method-assign]


def _install_requests() -> None:
    try:
        import requests
    except ImportError:
        return
    original_request = requests.Session.request

    @functools.wraps(original_request)
    def session_request(self: Any, method: str, url: str, **kwargs: Any) -> Any:
        if current() is None:
            return original_request(self, method, url, **kwargs)
        with tracer().start_as_current_span(f"{method.upper()} {url}", kind=SpanKind.CLIENT):
            kwargs["headers"] = {**(kwargs.get("headers") or {}), **_outgoing_headers()}
            return original_request(self, method, url, **kwargs)

    requests.Session.request = session_request  # type: ignore[method-assign,assignment]
