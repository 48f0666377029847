"""Who may use the backend: the API token, the Host and Origin checks, CORS for ingest only.

The model (docs/api.md, "Access"):
- `/api/*` is the user's alone. It needs `Authorization: Bearer <token>` on every address,
  loopback included; a browser request from another origin is refused (403, and no CORS
  headers, so a preflight fails); the Host header must name this backend (loopback,
  `localhost`, the listen host, this machine's name or an `--allowed-host`), so DNS
  rebinding gets 421.
- OTLP ingest (`/v1/*`) is open on loopback, so applications send logs with no
  configuration, and answers CORS for browser SDKs (no credentials). Off loopback it needs
  the token too.
- `/healthz` is open.

Without `--token`, `hlog serve` uses the token in the user's data directory (created on
first use, mode 0600), which `hlog search`, `hlog alerts` and `hlog-tui` read themselves.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
from collections.abc import Iterable
from pathlib import Path

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hlog.backend.http_otlp import request_type, status_response

MIN_TOKEN_CHARS = 16
TOKEN_FILE_NAME = "token"
INGEST_PREFIX = "/v1/"  # /v1/logs, /v1/traces, and the answers to /v1/metrics and unknown paths
OPEN_PATHS = frozenset({"/healthz"})
CORS_MAX_AGE_SECONDS = 600
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


class TokenError(ValueError):
    """A token that cannot be used, or a token file that cannot be read or made."""


def check_token(token: str) -> str:
    """`token` if it is long enough and has no whitespace or control characters, else TokenError."""
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenError(f"the token must have at least {MIN_TOKEN_CHARS} characters")
    if not token.isprintable() or any(ch.isspace() for ch in token) or not token.isascii():
        raise TokenError("the token must be printable ASCII without spaces")
    return token


def token_path() -> Path:
    """`$XDG_DATA_HOME/hlog/token`, else `~/.local/share/hlog/token`."""
    from hlog.backend.store import data_dir

    return data_dir() / TOKEN_FILE_NAME


def read_token(path: Path | None = None) -> str | None:
    """The token in the user's token file, or None when there is none (or it cannot be read)."""
    try:
        text = (path or token_path()).read_text().strip()
    except OSError:
        return None
    return text or None


def load_or_create_token(path: Path | None = None) -> str:
    """The user's token: read from its file, or made at random and written there (mode 0600,
    atomically, so backends starting together agree on one)."""
    path = path or token_path()
    existing = read_token(path)
    if existing:
        return check_token(existing)
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        try:
            os.link(temporary, path)  # fails if another process made it first: use theirs
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    except OSError as err:
        raise TokenError(f"cannot write the API token to {path}: {err.strerror or err}") from None
    found = read_token(path)
    if not found:
        raise TokenError(f"cannot read the API token from {path}")
    return check_token(found)


def is_loopback_host(host: str) -> bool:
    """Whether `host` (a name or address, IPv6 with or without brackets) is this machine's loopback."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The host of a Host header, without its port."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")].lower() if "]" in host_header else ""
    return host_header.rpartition(":")[0].lower() if host_header.count(":") == 1 else host_header.lower()


def default_allowed_hosts(listen_host: str) -> set[str]:
    """The names a Host header may carry: the listen host (unless it is a wildcard) and this
    machine's names; loopback is always allowed."""
    hosts = {socket.gethostname().lower(), socket.getfqdn().lower()}
    if listen_host not in ("", "0.0.0.0", "::"):
        hosts.add(listen_host.strip("[]").lower())
    return hosts


class Gatekeeper:
    """The ASGI middleware that applies the access model above (outermost)."""

    def __init__(
        self, app: ASGIApp, token: str, ingest_needs_token: bool = False, allowed_hosts: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.ingest_needs_token = ingest_needs_token
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.ingest = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["POST", "OPTIONS"],
            allow_headers=CORS_HEADERS,
            max_age=CORS_MAX_AGE_SECONDS,
        )

    def _authorized(self, headers: Headers) -> bool:
        given = headers.get("authorization", "").encode("latin-1", "replace")
        return hmac.compare_digest(given, self.expected)

    def _host_allowed(self, host: str) -> bool:
        return "*" in self.allowed_hosts or is_loopback_host(host) or host in self.allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["path"].startswith(INGEST_PREFIX):
            is_preflight = scope["method"] == "OPTIONS"
            if self.ingest_needs_token and not is_preflight and not self._authorized(headers):
                response = status_response(401, "missing or wrong bearer token", request_type(headers))
                response.headers["WWW-Authenticate"] = "Bearer"
                response.headers["Access-Control-Allow-Origin"] = "*"
                await response(scope, receive, send)
                return
            await self.ingest(scope, receive, send)
            return
        host_header = headers.get("host", "")
        host = _host_name(host_header)
        if not self._host_allowed(host):
            message = f"this backend does not answer to the host {host!r}; start it with --allowed-host {host}"
            await _error(421, "host", message)(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in (f"http://{host_header}", f"https://{host_header}"):
            await _error(403, "origin", "cross-origin requests to the API are refused")(scope, receive, send)
            return
        if not self._authorized(headers):
            response = _error(401, "auth", "missing or wrong bearer token (see docs/api.md, Access)")
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status)
