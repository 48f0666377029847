"""A client of the backend's HTTP API, to a running backend or to one started in this process."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from hlog.backend.access import read_token
from hlog.backend.app import SERVICE_NAME, Backend, Extension
from hlog.backend.store import Store, StoreError

DEFAULT_BACKEND_URL = "http://127.0.0.1:4318"
PROBE_TIMEOUT_SECONDS = 0.5
REQUEST_TIMEOUT_SECONDS = 60.0
MAX_RETRIES = 5
IN_PROCESS_URL = "http://localhost"


class ApiError(RuntimeError):
    """The backend answered with an error; `payload` is its JSON error object when it sent one."""

    def __init__(self, message: str, status: int, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload or {}


def default_backend_url() -> str:
    """`$HLOG_BACKEND`, else http://127.0.0.1:4318."""
    return os.environ.get("HLOG_BACKEND") or DEFAULT_BACKEND_URL


class ApiClient:
    """Typed calls of the API over an httpx client (network or in-process ASGI)."""

    def __init__(self, http: httpx.AsyncClient, where: str) -> None:
        self.http = http
        self.where = where
        self.partial = ""  # the last answer's word that rows are missing (a shard down), if any

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        clean = {k: v for k, v in params.items() if v is not None and v != ""}
        response = await self.http.get(path, params=clean)
        return self._json(response)

    def _json(self, response: httpx.Response) -> Any:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not response.is_success:  # a redirect too: the API never sends one
            error = data.get("error") if isinstance(data, dict) else None
            message = error.get("message") if isinstance(error, dict) else response.text[:200]
            raise ApiError(str(message), response.status_code, error if isinstance(error, dict) else None)
        if isinstance(data, dict):
            self.partial = str(data.get("partial") or "")
        return data

    async def logs(self, **params: Any) -> dict[str, Any]:
        """GET /api/logs (q, from, to, limit, cursor, after, whole)."""
        result: dict[str, Any] = await self._get("/api/logs", params)
        return result

    async def count(self, **params: Any) -> int:
        """GET /api/logs/count (q, from, to)."""
        return int((await self._get("/api/logs/count", params))["count"])

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """Any API call with a JSON body; raises ApiError on an error answer."""
        clean = {k: v for k, v in params.items() if v is not None and v != ""}
        response = await self.http.request(method, path, json=body, params=clean)
        if response.status_code == 204:
            return None
        return self._json(response)

    async def estimate(self, **params: Any) -> dict[str, Any]:
        """GET /api/logs/estimate (q, from, to)."""
        result: dict[str, Any] = await self._get("/api/logs/estimate", params)
        return result

    async def histogram(self, **params: Any) -> dict[str, Any]:
        """GET /api/logs/histogram (q, from, to, buckets)."""
        result: dict[str, Any] = await self._get("/api/logs/histogram", params)
        return result

    async def log(self, log_id: str) -> dict[str, Any]:
        """GET /api/logs/{log_id}: one log."""
        result: dict[str, Any] = (await self._get(f"/api/logs/{quote(log_id, safe='')}", {}))["log"]
        return result

    async def context(self, log_id: str, **params: Any) -> dict[str, Any]:
        """GET /api/logs/{log_id}/context (before, after, by, q)."""
        result: dict[str, Any] = await self._get(f"/api/logs/{quote(log_id, safe='')}/context", params)
        return result

    async def patterns(self, **params: Any) -> dict[str, Any]:
        """GET /api/patterns (q, from, to, compare, top, buckets)."""
        result: dict[str, Any] = await self._get("/api/patterns", params)
        return result

    async def facets(self, **params: Any) -> dict[str, Any]:
        """GET /api/facets (q, from, to, key (a list), top)."""
        result: dict[str, Any] = await self._get("/api/facets", params)
        return result

    async def views(self) -> list[dict[str, Any]]:
        """GET /api/views."""
        return list((await self._get("/api/views", {}))["views"])

    async def view(self, name: str) -> dict[str, Any]:
        """GET /api/views/{name}."""
        result: dict[str, Any] = await self._get(f"/api/views/{quote(name, safe='')}", {})
        return result

    async def save_view(self, view: dict[str, Any]) -> dict[str, Any]:
        """PUT /api/views/{name}."""
        result: dict[str, Any] = await self.call("PUT", f"/api/views/{quote(view['name'], safe='')}", view)
        return result

    async def delete_view(self, name: str) -> None:
        """DELETE /api/views/{name}."""
        await self.call("DELETE", f"/api/views/{quote(name, safe='')}")

    async def session(self, session_id: str) -> dict[str, Any]:
        """GET /api/sessions/{id}."""
        result: dict[str, Any] = await self._get(f"/api/sessions/{quote(session_id, safe='')}", {})
        return result

    async def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """GET /api/traces/{id}: the spans of a trace."""
        result = await self._get(f"/api/traces/{quote(trace_id, safe='')}", {})
        return list(result["spans"])

    async def keys(self, **params: Any) -> list[dict[str, Any]]:
        """GET /api/keys (from, to)."""
        return list((await self._get("/api/keys", params))["keys"])

    async def values(self, key: str, **params: Any) -> list[dict[str, Any]]:
        """GET /api/keys/{key}/values (from, to, prefix)."""
        return list((await self._get(f"/api/keys/{quote(key, safe='')}/values", params))["values"])

    async def export_logs(self, body: bytes) -> dict[str, Any]:
        """POST /v1/logs with a protobuf body; retries while the backend says it is overloaded."""
        for attempt in range(MAX_RETRIES):
            response = await self.http.post(
                "/v1/logs", content=body, headers={"Content-Type": "application/x-protobuf"}
            )
            if response.status_code in (429, 503) and attempt < MAX_RETRIES - 1:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if not response.is_success:  # a redirect too: the API never sends one
                raise ApiError(
                    f"backend refused the logs ({response.status_code}): {response.text[:300]}", response.status_code
                )
            parsed = ExportLogsServiceResponse.FromString(response.content)
            return {
                "rejected": parsed.partial_success.rejected_log_records,
                "message": parsed.partial_success.error_message,
            }
        raise ApiError("backend stayed overloaded", 503)  # pragma: no cover


async def probe(url: str) -> bool:
    """True when an hlog backend answers at `url`."""
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as http:
            response = await http.get(url.rstrip("/") + "/healthz")
            # 503 is a backend that answers but reports a problem (/healthz "degraded"): still ours to use
            return response.status_code in (200, 503) and response.json().get("service") == SERVICE_NAME
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def _auth(token: str | None) -> dict[str, str]:
    """The Authorization header for `token`, else for the user's token file (docs/api.md, Access)."""
    token = token or read_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def remote_http(url: str, token: str | None) -> httpx.AsyncClient:
    """An HTTP client of the backend at `url`, with the API token."""
    return httpx.AsyncClient(base_url=url, headers=_auth(token), timeout=REQUEST_TIMEOUT_SECONDS)


def in_process_http(backend: Backend) -> httpx.AsyncClient:
    """An HTTP client of `backend` inside this process (no socket), with its token."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=backend.app),
        base_url=IN_PROCESS_URL,
        headers={"Authorization": f"Bearer {backend.token}"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )


@contextlib.asynccontextmanager
async def connect(
    backend_url: str | None = None,
    store_dsn: str | None = None,
    token: str | None = None,
    extensions: Callable[[Store], Sequence[Extension]] | None = None,
    ingest: bool = False,
) -> AsyncIterator[ApiClient]:
    """An API client. With `store_dsn`, a backend on that store in this process; with
    `backend_url`, that backend (which must answer); with neither, the default backend
    when it answers, else an in-process backend on the default store. An in-process backend
    only reads (it creates no table) unless `ingest`: then it migrates the store and stores
    what is sent to it, as `hlog serve` would."""
    if store_dsn is None:
        url = backend_url or default_backend_url()
        if await probe(url):
            async with remote_http(url, token) as http:
                yield ApiClient(http, f"backend {url}")
            return
        if backend_url is not None:
            raise StoreError(f"no hlog backend answers at {url}")
    store = await asyncio.to_thread(Store, store_dsn, migrate=ingest)
    try:
        backend = Backend(store, extensions=extensions(store) if extensions else (), ingest=ingest)
        async with backend.running(), in_process_http(backend) as http:
            yield ApiClient(http, store.target.describe())
    finally:
        store.close()
