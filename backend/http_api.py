"""The JSON API used by `hlog search` and the TUI: /api/logs, its count and histogram."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from hlog.backend.search import (
    CONTEXT_SCOPES,
    DEFAULT_BREAKDOWN_GROUPS,
    DEFAULT_CONTEXT_ROWS,
    DEFAULT_HISTOGRAM_BUCKETS,
    DEFAULT_PAGE_ROWS,
    MAX_BREAKDOWN_GROUPS,
    MAX_CONTEXT_ROWS,
    MAX_HISTOGRAM_BUCKETS,
    MAX_PAGE_ROWS,
    Cursor,
    NoScope,
    NotFound,
    TimeRange,
)
from hlog.backend.store import QUERY_TAG, StoreError
from hlog.backend.timeutil import parse_time_ns
from hlog.query import QueryError

if TYPE_CHECKING:
    from hlog.backend.app import Backend


T = TypeVar("T")


class BadRequest(ValueError):
    """A request parameter that cannot be used; answered with 400."""


def error_response(err: Exception) -> JSONResponse:
    """The one place API errors become responses."""
    if isinstance(err, QueryError):
        return JSONResponse({"error": err.to_dict()}, 400)
    if isinstance(err, (BadRequest, NoScope)):
        return JSONResponse({"error": {"type": "request", "message": str(err)}}, 400)
    if isinstance(err, NotFound):
        return JSONResponse({"error": {"type": "not_found", "message": str(err)}}, 404)
    if isinstance(err, StoreError):
        return JSONResponse({"error": {"type": "store", "message": err.public}}, 503, {"Retry-After": "5"})
    raise err


def answer(backend: Backend, payload: dict[str, Any]) -> JSONResponse:
    """A read's answer; when a node of a sharded store did not answer, it says the rows are partial."""
    if backend.store.partial:
        payload = {**payload, "partial": backend.store.partial}
    return JSONResponse(payload)


DISCONNECT_POLL_SECONDS = 0.25


async def _read(request: Request, backend: Backend, fn: Callable[..., T], *args: Any) -> T:
    """Run a read in a worker thread with its queries tagged. When the request is abandoned (its
    client went away, or the task awaiting it was cancelled: hlog-tui moved on), the queries
    still running are stopped in the store, not only no longer awaited."""
    tag = uuid.uuid4().hex
    context = contextvars.copy_context()
    context.run(QUERY_TAG.set, tag)
    task = asyncio.ensure_future(run_in_threadpool(context.run, fn, *args))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_SECONDS)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise asyncio.CancelledError
    except BaseException:
        if not task.done():  # not awaited again: the store is told in a thread of its own
            task.add_done_callback(_forget)
            threading.Thread(target=backend.store.cancel, args=(tag,), name="hlog-cancel", daemon=True).start()
        raise


def _yes(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "")
    if raw not in ("", "0", "1", "false", "true"):
        raise BadRequest(f"{name} must be 1 or 0 (true or false), not {raw[:64]!r}")
    return raw in ("1", "true")


def _forget(task: asyncio.Future[Any]) -> None:
    """An abandoned read's end (most often: cancelled in the store), taken so that asyncio does not
    report it as an error nobody saw."""
    if not task.cancelled():
        task.exception()


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _time_range(request: Request) -> TimeRange:
    values: dict[str, int | None] = {}
    for name in ("from", "to"):
        raw = request.query_params.get(name)
        try:
            values[name] = parse_time_ns(raw) if raw else None
        except ValueError as err:
            raise BadRequest(f"{name}: {err}") from None
    start, end = values["from"], values["to"]
    if start is not None and end is not None and start >= end:
        raise BadRequest("from must be before to")
    return TimeRange(start, end)


def _closed_range(request: Request) -> TimeRange:
    """The request's range, which must start (`from`); it ends now when `to` is not given."""
    time_range = _time_range(request)
    if time_range.start_ns is None:
        raise BadRequest(f"{request.url.path} needs from")
    if time_range.end_ns is None:
        time_range = TimeRange(time_range.start_ns, parse_time_ns("now"))
    return time_range


def _cursor(request: Request, name: str) -> Cursor | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return Cursor.decode(raw)
    except ValueError as err:
        raise BadRequest(str(err)) from None


async def logs(request: Request) -> JSONResponse:
    """GET /api/logs: a page of matching logs, newest first (or oldest first after a cursor)."""
    backend: Backend = request.app.state.backend
    try:
        query = request.query_params.get("q", "")
        time_range = _time_range(request)
        limit = _int(request, "limit", DEFAULT_PAGE_ROWS, 1, MAX_PAGE_ROWS)
        before, after = _cursor(request, "cursor"), _cursor(request, "after")
        if before and after:
            raise BadRequest("use either cursor or after, not both")
        whole = _yes(request, "whole")
        page = await _read(request, backend, backend.search.page, query, time_range, limit, before, after, whole)
    except (QueryError, BadRequest, StoreError) as err:
        return error_response(err)
    return answer(backend, {"logs": page.logs, "next_cursor": page.next_cursor})


async def count(request: Request) -> JSONResponse:
    """GET /api/logs/count: how many logs match."""
    backend: Backend = request.app.state.backend
    try:
        query = request.query_params.get("q", "")
        n = await _read(request, backend, backend.search.count, query, _time_range(request))
    except (QueryError, BadRequest, StoreError) as err:
        return error_response(err)
    return answer(backend, {"count": n})


async def estimate(request: Request) -> JSONResponse:
    """GET /api/logs/estimate: how many logs counting the matches would read, before reading them."""
    backend: Backend = request.app.state.backend
    try:
        query = request.query_params.get("q", "")
        found = await _read(request, backend, backend.search.estimate, query, _closed_range(request))
    except (QueryError, BadRequest, StoreError) as err:
        return error_response(err)
    return answer(backend, found)


async def histogram(request: Request) -> JSONResponse:
    """GET /api/logs/histogram: matches per time bucket and level, or per value of a key (`by`)."""
    backend: Backend = request.app.state.backend
    try:
        query = request.query_params.get("q", "")
        time_range = _closed_range(request)
        buckets = _int(request, "buckets", DEFAULT_HISTOGRAM_BUCKETS, 1, MAX_HISTOGRAM_BUCKETS)
        by = request.query_params.get("by", "")
        if len(by) > 256:
            raise BadRequest("by: a key of at most 256 characters")
        result: dict[str, Any]
        if by:
            top = _int(request, "top", DEFAULT_BREAKDOWN_GROUPS, 1, MAX_BREAKDOWN_GROUPS)
            result = await _read(request, backend, backend.search.breakdown, query, time_range, by, buckets, top)
        else:
            result = await _read(request, backend, backend.search.histogram, query, time_range, buckets)
    except (QueryError, BadRequest, StoreError) as err:
        return error_response(err)
    return answer(backend, result)


def _log_id(request: Request) -> str:
    log_id = request.path_params["log_id"]
    try:
        Cursor.decode(log_id)
    except ValueError:
        raise BadRequest(f"invalid log id {log_id[:64]!r}: a log id is TIMESTAMP_NS-ROW_ID") from None
    return str(log_id)


async def one_log(request: Request) -> JSONResponse:
    """GET /api/logs/{log_id}: one log."""
    backend: Backend = request.app.state.backend
    try:
        log = await _read(request, backend, backend.search.log, _log_id(request))
    except (BadRequest, NotFound, StoreError) as err:
        return error_response(err)
    return answer(backend, {"log": log})


async def context(request: Request) -> JSONResponse:
    """GET /api/logs/{log_id}/context: the logs around one in a scope, oldest first."""
    backend: Backend = request.app.state.backend
    try:
        log_id = _log_id(request)
        before = _int(request, "before", DEFAULT_CONTEXT_ROWS, 0, MAX_CONTEXT_ROWS)
        after = _int(request, "after", DEFAULT_CONTEXT_ROWS, 0, MAX_CONTEXT_ROWS)
        by = request.query_params.get("by") or "service"
        if by not in CONTEXT_SCOPES:
            raise BadRequest(f"by must be one of {', '.join(CONTEXT_SCOPES)}")
        query = request.query_params.get("q", "")
        whole = _yes(request, "whole")
        result = await _read(request, backend, backend.search.context, log_id, before, after, by, query, whole)
    except (QueryError, BadRequest, NoScope, NotFound, StoreError) as err:
        return error_response(err)
    return answer(backend, result)


async def facets(request: Request) -> JSONResponse:
    """GET /api/facets: the top values of the reserved fields and the common attribute keys among the matches."""
    from hlog.backend import facets as facet_queries

    backend: Backend = request.app.state.backend
    try:
        keys = [k for k in request.query_params.getlist("key") if k]
        if len(keys) > facet_queries.MAX_KEYS or any(len(k) > 256 for k in keys):
            raise BadRequest(f"at most {facet_queries.MAX_KEYS} keys of at most 256 characters")
        top = _int(request, "top", facet_queries.DEFAULT_TOP, 1, facet_queries.MAX_TOP)
        query = request.query_params.get("q", "")
        result = await _read(
            request, backend, facet_queries.facets, backend.search, query, _time_range(request), keys or None, top
        )
    except (QueryError, BadRequest, StoreError) as err:
        return error_response(err)
    return answer(backend, result)


async def patterns(request: Request) -> JSONResponse:
    """GET /api/patterns: the matches grouped into patterns, most common first."""
    from hlog.backend import patterns as pattern_queries
    from hlog.backend.timeutil import parse_duration_ns

    backend: Backend = request.app.state.backend
    try:
        top = _int(request, "top", pattern_queries.DEFAULT_TOP, 1, pattern_queries.MAX_TOP)
        buckets = _int(request, "buckets", pattern_queries.DEFAULT_BUCKETS, 1, pattern_queries.MAX_BUCKETS)
        compare = request.query_params.get("compare", "")
        try:
            compare_ns = parse_duration_ns(compare) if compare else None
        except ValueError:
            raise BadRequest(f"compare must be a duration like 24h, not {compare[:64]!r}") from None
        if compare_ns is not None and not 0 < compare_ns <= 366 * 86400 * 10**9:
            raise BadRequest("compare must be between 1s and 366d")
        result = await _read(
            request,
            backend,
            pattern_queries.patterns,
            backend.search,
            request.query_params.get("q", ""),
            _closed_range(request),
            compare_ns,
            top,
            buckets,
        )
    except (QueryError, BadRequest, StoreError) as err:
        return error_response(err)
    return answer(backend, result)


async def trace(request: Request) -> JSONResponse:
    """GET /api/traces/{trace_id}: the spans of a trace, in start order."""
    backend: Backend = request.app.state.backend
    trace_id = request.path_params["trace_id"]
    try:
        if not trace_id or len(trace_id) > 128:
            raise BadRequest("invalid trace id")
        spans = await _read(request, backend, backend.search.trace_spans, trace_id)
    except (BadRequest, StoreError) as err:
        return error_response(err)
    return answer(backend, {"trace_id": trace_id.lower(), "spans": spans})


async def session(request: Request) -> JSONResponse:
    """GET /api/sessions/{session_id}: the session's summary and its requests."""
    backend: Backend = request.app.state.backend
    session_id = request.path_params["session_id"]
    try:
        summary = await _read(request, backend, backend.explorer.session, session_id)
    except StoreError as err:
        return error_response(err)
    if summary is None:
        return JSONResponse({"error": {"type": "not_found", "message": f"no logs for session {session_id}"}}, 404)
    return answer(backend, summary)


async def keys(request: Request) -> JSONResponse:
    """GET /api/keys: reserved keys and the most frequent attribute keys in the range."""
    backend: Backend = request.app.state.backend
    try:
        found = await _read(request, backend, backend.explorer.keys, _time_range(request))
    except (BadRequest, StoreError) as err:
        return error_response(err)
    return answer(backend, {"keys": found})


async def values(request: Request) -> JSONResponse:
    """GET /api/keys/{key}/values: the most frequent values of a key in the range."""
    backend: Backend = request.app.state.backend
    try:
        found = await _read(
            request,
            backend,
            backend.explorer.values,
            request.path_params["key"],
            _time_range(request),
            request.query_params.get("prefix", ""),
        )
    except (BadRequest, StoreError) as err:
        return error_response(err)
    return answer(backend, {"values": found})


MAX_VIEW_BYTES = 64 * 1024


async def views(request: Request) -> JSONResponse:
    """GET /api/views: every saved view, by name."""
    backend: Backend = request.app.state.backend
    try:
        found = await run_in_threadpool(backend.views.all)
    except StoreError as err:
        return error_response(err)
    return JSONResponse({"views": [v.to_json() for v in found]})


async def view(request: Request) -> JSONResponse:
    """GET, PUT (create or replace, a JSON body) and DELETE /api/views/{name}."""
    from hlog.backend.views import View, ViewError

    backend: Backend = request.app.state.backend
    name = request.path_params["name"]
    try:
        if request.method == "PUT":
            raw = await request.body()
            if len(raw) > MAX_VIEW_BYTES:
                raise BadRequest(f"a view is at most {MAX_VIEW_BYTES // 1024} KiB")
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                raise BadRequest("the body must be a JSON object") from None
            if isinstance(data, dict):
                data = {**data, "name": name}
            try:
                saved = await run_in_threadpool(backend.views.save, View.from_json(data))
            except ViewError as err:
                raise BadRequest(str(err)) from None
            return JSONResponse(saved.to_json())
        if request.method == "DELETE":
            if not await run_in_threadpool(backend.views.delete, name):
                raise NotFound(f"no saved view {name!r}")
            return JSONResponse({"deleted": name})
        found = await run_in_threadpool(backend.views.get, name)
        if found is None:
            raise NotFound(f"no saved view {name!r}")
        return JSONResponse(found.to_json())
    except (BadRequest, NotFound, StoreError) as err:
        return error_response(err)
