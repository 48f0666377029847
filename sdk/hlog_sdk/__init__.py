"""hlog's Python SDK: a thin layer on OpenTelemetry that ties logs and spans to the user session.

import hlog_sdk
hlog_sdk.init(service_name="checkout")
app = hlog_sdk.ASGIMiddleware(app)        # reads x-hlog-request: <session id>/<request id>
logging.getLogger(__name__).info("cart updated")   # carries session.id and hlog.request_id
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from hlog_sdk.context import HEADER, HIGHLIGHT_HEADER, RequestContext, current, session
from hlog_sdk.middleware import ASGIMiddleware, WSGIMiddleware
from hlog_sdk.setup import Handle, Stats
from hlog_sdk.setup import init as _init

try:
    __version__ = version("hlog-sdk")  # one source: sdk/pyproject.toml
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"


def init(
    service_name: str,
    endpoint: str = "http://127.0.0.1:4318",
    environment: str | None = None,
    service_version: str | None = None,
    **kwargs: object,
) -> Handle:
    """Set up OTLP export of logs and spans, and session propagation on httpx/requests calls."""
    from hlog_sdk import propagation

    handle = _init(service_name, endpoint, environment, service_version, **kwargs)  # type: ignore[arg-type]
    propagation.install()
    return handle


__all__ = [
    "__version__",
    "HEADER",
    "HIGHLIGHT_HEADER",
    "ASGIMiddleware",
    "Handle",
    "RequestContext",
    "Stats",
    "WSGIMiddleware",
    "current",
    "init",
    "session",
]
