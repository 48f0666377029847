"""The session and request a piece of work belongs to, carried in context variables."""

from __future__ import annotations

import contextlib
import contextvars
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from opentelemetry import baggage, context

HEADER = "x-hlog-request"
HIGHLIGHT_HEADER = "x-highlight-request"
SESSION_KEY = "session.id"
REQUEST_KEY = "hlog.request_id"


@dataclass(frozen=True)
class RequestContext:
    """`session_id` (may be empty) and `request_id` of the current request."""

    session_id: str
    request_id: str

    def header(self) -> str:
        """The value of x-hlog-request for calls made on behalf of this request."""
        return f"{self.session_id}/{self.request_id}"


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("hlog_request", default=None)


def current() -> RequestContext | None:
    """The session and request being handled, if any."""
    return _current.get()


def parse_header(value: str) -> RequestContext | None:
    """`<session id>/<request id>` from x-hlog-request (or x-highlight-request)."""
    session, _, request = value.strip().partition("/")
    session, request = session.strip()[:256], request.strip()[:256]
    if not session:
        return None
    return RequestContext(session, request or new_request_id())


def new_request_id() -> str:
    """A fresh request id."""
    return secrets.token_hex(8)


@contextlib.contextmanager
def activate(request: RequestContext) -> Iterator[RequestContext]:
    """Make `request` current (and visible in W3C baggage) for the duration of the block."""
    token = _current.set(request)
    ctx = baggage.set_baggage(SESSION_KEY, request.session_id) if request.session_id else context.get_current()
    otel_token = context.attach(ctx)
    try:
        yield request
    finally:
        context.detach(otel_token)
        _current.reset(token)


def session(session_id: str, request_id: str | None = None) -> contextlib.AbstractContextManager[RequestContext]:
    """Work outside a request (a queue consumer, a cron job) attributed to a session."""
    return activate(RequestContext(session_id, request_id or new_request_id()))
