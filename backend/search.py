"""Log search on the store: keyset pages, counts and histograms, built on query/."""

from __future__ import annotations

import contextvars
import dataclasses
import json
import math
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hlog.backend.attributes import typed
from hlog.backend.timeutil import format_ns
from hlog.query import CompiledQuery, QueryError, compile_query, format_term
from hlog.query.fields import reserved
from hlog.query.severity import LEVEL_SQL, level_from_number, level_of

if TYPE_CHECKING:
    from hlog.backend.store import Store, Tables

DEFAULT_PAGE_ROWS = 100
MAX_PAGE_ROWS = 10_000
DEFAULT_HISTOGRAM_BUCKETS = 60
MAX_HISTOGRAM_BUCKETS = 1_000
DEFAULT_BREAKDOWN_GROUPS = 5  # a histogram broken down by a key: its values with the most matches
MAX_BREAKDOWN_GROUPS = 20
# `hlog context` and `C`: the logs around one, in one of these scopes
CONTEXT_SCOPES = ("service", "host", "session", "trace", "all")
DEFAULT_CONTEXT_ROWS = 20
MAX_CONTEXT_ROWS = 1_000
HOST_KEY = "host.name"
_SIDES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hlog-context")

# A list of logs (a page, a session, a context) reads these columns of each log; a log read whole
# (GET /api/logs/{id}, or a page with whole=1) the rest of the OpenTelemetry record too. Each
# column is one more granule read a match for a search whose matches are scattered: with the
# rest, a rare word over 10 M logs took +20 % (docs/store.md).
_LIST_SELECT = (
    "toUnixTimestamp64Nano(Timestamp) AS ts, Id, SeverityText, SeverityNumber, ServiceName, ServiceVersion, "
    "Environment, SessionId, TraceId, SpanId, TraceFlags, Body, LogAttributes, ResourceAttributes, "
    "ScopeName, ScopeVersion, AttributeTypes"
)
_WHOLE_SELECT = (
    f"{_LIST_SELECT}, EventName, toUnixTimestamp64Nano(ObservedTimestamp), ResourceSchemaUrl, ScopeSchemaUrl, "
    "ScopeAttributes, DroppedAttributesCount"
)
_LIST_WIDTH = len(_LIST_SELECT.split(", "))
_REST_FIELDS = (  # the API's names of the columns _WHOLE_SELECT adds, in order
    "event_name",
    "observed_timestamp_ns",
    "resource_schema_url",
    "scope_schema_url",
    "scope_attributes",
    "dropped_attributes_count",
)


@dataclass(frozen=True)
class Cursor:
    """A position in newest-first order: (timestamp, row id) of a log. Encoded as `ts-id`."""

    ts: int
    id: int

    def encode(self) -> str:
        """The opaque string form used by the API."""
        return f"{self.ts}-{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse `ts-id`; raises ValueError."""
        ts, sep, row_id = text.partition("-")
        if not sep or not ts.isdigit() or not row_id.isdigit():
            raise ValueError(f"invalid cursor {text!r}")
        return cls(int(ts), int(row_id))


class NotFound(LookupError):
    """No log has the id asked for."""


class NoScope(ValueError):
    """The log lacks what a context scope needs (a session, a trace, a host)."""


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in ns since the epoch; None means open on that side."""

    start_ns: int | None = None
    end_ns: int | None = None

    def sql(self, params: dict[str, Any]) -> list[str]:
        """Conditions for the range, binding its bounds into `params`."""
        conditions = []
        if self.start_ns is not None:
            params["t0"] = self.start_ns
            conditions.append("Timestamp >= fromUnixTimestamp64Nano({t0:Int64})")
        if self.end_ns is not None:
            params["t1"] = self.end_ns
            conditions.append("Timestamp < fromUnixTimestamp64Nano({t1:Int64})")
        return conditions


@dataclass(frozen=True)
class Page:
    """One page of logs and the cursor of the next one (None at the end)."""

    logs: list[dict[str, Any]]
    next_cursor: str | None


def where_sql(compiled: CompiledQuery, time_range: TimeRange) -> tuple[str, dict[str, Any]]:
    """The WHERE condition of a search over a range, and its parameters."""
    params = dict(compiled.params)
    conditions = time_range.sql(params)
    if compiled.sql != "1":
        conditions.append(compiled.sql)
    return (" AND ".join(conditions) or "1"), params


def page_sql(
    tables: Tables,
    compiled: CompiledQuery,
    time_range: TimeRange,
    limit: int,
    before: Cursor | None = None,
    after: Cursor | None = None,
    also: str = "",
    whole: bool = False,
) -> tuple[str, dict[str, Any]]:
    """SQL for a page: newest first, older than `before`; or oldest first, newer than `after`.
    `also`: one more column after the log's (an expression with its own parameters in `compiled`).
    `whole`: each log with the rest of its record (_WHOLE_SELECT), not only a list's columns."""
    where, params = where_sql(compiled, time_range)
    order = "DESC"
    cursor = before or after
    if cursor is not None:
        params["cts"], params["cid"] = cursor.ts, cursor.id
        # the bound on Timestamp is what ClickHouse turns into a primary key range; the
        # tuple comparison is the exact keyset position (cheaper per row than an OR)
        ts = "fromUnixTimestamp64Nano({cts:Int64})"
        if after is not None:
            order = "ASC"
            where += f" AND Timestamp >= {ts} AND (Timestamp, Id) > ({ts}, {{cid:UInt64}})"
        else:
            where += f" AND Timestamp <= {ts} AND (Timestamp, Id) < ({ts}, {{cid:UInt64}})"
    params["lim"] = limit
    # Reading in order, ClickHouse merges a stream per part (a day at least); without read-ahead
    # buffering it reads an older part only as far as the page needs: `service_name:X level:error`
    # over 7 days of 10 M logs 35 -> 18 ms, a phrase 44 -> 22 ms (bench/search.py).
    # The stored rows and the unflushed ones (a small in-memory table) are each read in order and
    # limited, then merged: a Merge table over both cannot read in order (5 M logs: 68 vs 6 ms).
    branches = " UNION ALL ".join(
        f"SELECT {_WHOLE_SELECT if whole else _LIST_SELECT}{', ' + also if also else ''} FROM {table} WHERE {where} "
        f"ORDER BY Timestamp {order}, Id {order} LIMIT {{lim:UInt32}}"
        for table in tables.parts("logs")
    )
    sql = (
        f"SELECT * FROM ({branches}) ORDER BY ts {order}, Id {order} LIMIT {{lim:UInt32}} "
        "SETTINGS read_in_order_use_buffering = 0"
    )
    return sql, params


def count_sql(tables: Tables, compiled: CompiledQuery, time_range: TimeRange) -> tuple[str, dict[str, Any]]:
    """SQL counting the matches."""
    where, params = where_sql(compiled, time_range)
    return f"SELECT count() FROM {tables.all('logs')} WHERE {where}", params


def histogram_sql(
    tables: Tables, compiled: CompiledQuery, time_range: TimeRange, buckets: int
) -> tuple[str, dict[str, Any], int]:
    """SQL counting matches per (bucket, level); returns the bucket width in ns too."""
    step = bucket_step(time_range, buckets)
    where, params = where_sql(compiled, time_range)
    params["step"] = step
    sql = (
        "SELECT intDiv(toUnixTimestamp64Nano(Timestamp) - {t0:Int64}, {step:Int64}) AS bucket, "
        "SeverityLevel, if(SeverityLevel = 0, SeverityText, '') AS text, count() "
        f"FROM {tables.all('logs')} WHERE {where} GROUP BY bucket, SeverityLevel, text ORDER BY bucket"
    )
    return sql, params, step


def bucket_step(time_range: TimeRange, buckets: int) -> int:
    """The width in ns of each of `buckets` equal buckets over a closed range."""
    assert time_range.start_ns is not None and time_range.end_ns is not None
    return max(1, math.ceil((time_range.end_ns - time_range.start_ns) / buckets))


def _bucketed(time_range: TimeRange, step: int, total: int, counts: list[dict[str, int]]) -> dict[str, Any]:
    """A histogram's answer: the range, the bucket width, the total and each bucket's counts."""
    assert time_range.start_ns is not None
    return {
        "start_ns": time_range.start_ns,
        "end_ns": time_range.end_ns,
        "step_ns": step,
        "total": total,
        "buckets": [{"start_ns": time_range.start_ns + i * step, "counts": c} for i, c in enumerate(counts)],
    }


def group_expr(key: str) -> str:
    """SQL for a log's value of `key`: a reserved field (the level as a search means it), else
    the attribute, bound as {gk:String} (the log's own, else its resource's)."""
    column = reserved(key)
    if column is not None and column.kind == "level":
        return LEVEL_SQL
    if column is not None and column.kind not in ("message", "time"):
        return column.column
    return "if(mapContains(LogAttributes, {gk:String}), LogAttributes[{gk:String}], ResourceAttributes[{gk:String}])"


def row_to_dict(row: Any) -> dict[str, Any]:
    """A result row of a list's columns (_LIST_SELECT) or a whole log's (_WHOLE_SELECT) as the
    API's JSON object."""
    (
        ts,
        row_id,
        level,
        number,
        service,
        version,
        env,
        session,
        trace,
        span,
        flags,
        body,
        attrs,
        res_attrs,
        scope_name,
        scope_version,
        types,
    ) = row[:_LIST_WIDTH]
    cursor = Cursor(ts, row_id).encode()
    record = {
        "cursor": cursor,
        "log_id": cursor,  # what `hlog context` and links name a log by: its time and row id
        "id": str(row_id),
        "timestamp": format_ns(ts, 9),
        "timestamp_ns": ts,
        "level": level_of(level, number),  # what it shows as: the OTel level, else the text
        "severity_text": level,
        "severity_number": number,
        "service_name": service,
        "service_version": version,
        "environment": env,
        "session_id": session,
        "trace_id": trace,
        "span_id": span,
        "trace_flags": flags,
        "body": body,
        "attributes": attrs,
        "resource_attributes": res_attrs,
        "scope_name": scope_name,
        "scope_version": scope_version,
    }
    if len(row) > _LIST_WIDTH:  # a whole log's
        record.update(zip(_REST_FIELDS, row[_LIST_WIDTH:], strict=True))
    return typed(record, types)


_SPAN_SELECT = (
    "toUnixTimestamp64Nano(Timestamp) AS ts, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, "
    "SessionId, Duration, StatusCode, StatusMessage, SpanAttributes, ResourceAttributes, Events, Links, "
    "TraceState, TraceFlags, ScopeName, ScopeVersion, ScopeAttributes, ResourceSchemaUrl, ScopeSchemaUrl, "
    "DroppedAttributesCount, DroppedEventsCount, DroppedLinksCount, AttributeTypes"
)
MAX_TRACE_SPANS = 10_000


def span_to_dict(row: Any) -> dict[str, Any]:
    """A row of the spans query as the API's JSON object."""
    (
        ts,
        trace,
        span,
        parent,
        name,
        kind,
        service,
        session,
        duration,
        status,
        message,
        attrs,
        res_attrs,
        events,
        links,
        state,
        flags,
        scope_name,
        scope_version,
        scope_attrs,
        resource_schema,
        scope_schema,
        dropped_attrs,
        dropped_events,
        dropped_links,
        types,
    ) = row
    record = {
        "timestamp": format_ns(ts, 9),
        "timestamp_ns": ts,
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": parent,
        "name": name,
        "kind": kind,
        "service_name": service,
        "session_id": session,
        "duration_ns": duration,
        "status_code": status,
        "status_message": message,
        "attributes": attrs,
        "resource_attributes": res_attrs,
        "events": json.loads(events) if events else [],
        "links": json.loads(links) if links else [],
        "trace_state": state,
        "trace_flags": flags,
        "scope_name": scope_name,
        "scope_version": scope_version,
        "scope_attributes": scope_attrs,
        "resource_schema_url": resource_schema,
        "scope_schema_url": scope_schema,
        "dropped_attributes_count": dropped_attrs,
        "dropped_events_count": dropped_events,
        "dropped_links_count": dropped_links,
    }
    return typed(record, types)


class LogSearch:
    """Runs searches against a store. Raises QueryError for bad queries, StoreError for the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._valid_regexes: set[str] = set()

    def compile(self, query: str) -> CompiledQuery:
        """The query compiled, its regexes accepted by the store's engine; raises QueryError.
        (A regex the engine refuses would otherwise fail only once a row reaches it.)"""
        compiled = compile_query(query, indexed=self.store.target.otel is None)
        for pattern, position in compiled.regexes:
            if pattern in self._valid_regexes:
                continue
            problem = self.store.regex_error(pattern)
            if problem:
                raise QueryError(f"invalid regular expression: {problem}", query, position)
            self._valid_regexes.add(pattern)
        return compiled

    def page(
        self,
        query: str,
        time_range: TimeRange,
        limit: int = DEFAULT_PAGE_ROWS,
        before: Cursor | None = None,
        after: Cursor | None = None,
        whole: bool = False,
    ) -> Page:
        """One page of matches; newest first unless `after` is given. `whole`: each log with the
        rest of its OpenTelemetry record (event name, observed time, ...), not only a list's fields."""
        compiled = self.compile(query)
        sql, params = page_sql(self.store.tables, compiled, time_range, limit + 1, before, after, whole=whole)
        rows = self.store.query(sql, params)
        logs = [row_to_dict(r) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = logs[-1]["cursor"] if logs and (more or after is not None) else None
        return Page(logs, next_cursor)

    def trace_spans(self, trace_id: str) -> list[dict[str, Any]]:
        """Every span of a trace, in start order."""
        sql = (
            f"SELECT {_SPAN_SELECT} FROM {self.store.tables.all('spans')} WHERE TraceId = {{trace:String}} "
            "ORDER BY Timestamp, Id LIMIT {lim:UInt32}"
        )
        rows = self.store.query(sql, {"trace": trace_id.lower(), "lim": MAX_TRACE_SPANS})
        return [span_to_dict(r) for r in rows]

    def count(self, query: str, time_range: TimeRange) -> int:
        """How many logs match."""
        sql, params = count_sql(self.store.tables, self.compile(query), time_range)
        return int(self.store.query(sql, params, scan=True)[0][0])

    def grouped_count(self, query: str, time_range: TimeRange, key: str, limit: int) -> dict[str, int]:
        """Matches per value of `key` (a reserved key or an attribute), the `limit` biggest groups."""
        where, params = where_sql(self.compile(query), time_range)
        params["gk"], params["glim"] = key, limit
        sql = (
            f"SELECT {group_expr(key)} AS g, count() AS n FROM {self.store.tables.all('logs')} WHERE {where} "
            "GROUP BY g ORDER BY n DESC, g LIMIT {glim:UInt32}"
        )
        return {str(g): int(n) for g, n in self.store.query(sql, params, scan=True)}

    def breakdown(
        self,
        query: str,
        time_range: TimeRange,
        key: str,
        buckets: int = DEFAULT_HISTOGRAM_BUCKETS,
        top: int = DEFAULT_BREAKDOWN_GROUPS,
    ) -> dict[str, Any]:
        """Matches per time bucket and value of `key` over a closed range: the `top` values with
        the most matches in the range each count on their own (`groups`, biggest first), the rest
        together as each bucket's `other`."""
        step = bucket_step(time_range, buckets)
        groups = list(self.grouped_count(query, time_range, key, top))
        where, params = where_sql(self.compile(query), time_range)
        params["step"], params["gk"], params["groups"] = step, key, groups
        sql = (
            "SELECT intDiv(toUnixTimestamp64Nano(Timestamp) - {t0:Int64}, {step:Int64}) AS bucket, "
            f"indexOf({{groups:Array(String)}}, toString({group_expr(key)})) AS g, count() "
            f"FROM {self.store.tables.all('logs')} WHERE {where} GROUP BY bucket, g"
        )
        counts: list[dict[str, int]] = [{} for _ in range(buckets)]
        others = [0] * buckets
        total = 0
        for bucket, index, n in self.store.query(sql, params, scan=True):
            if 0 <= bucket < buckets:
                if index:  # 1-based; 0: none of the groups
                    counts[bucket][groups[index - 1]] = int(n)
                else:
                    others[bucket] += int(n)
                total += int(n)
        found = _bucketed(time_range, step, total, counts)
        for bucket, other in zip(found["buckets"], others, strict=True):
            bucket["other"] = other
        return {**found, "by": key, "groups": groups}

    def estimate(self, query: str, time_range: TimeRange) -> dict[str, int]:
        """What reading every match over a closed range (its histogram) would read, from the
        primary key and indexes, before reading: rows, parts and granules (ClickHouse's
        EXPLAIN ESTIMATE; ~10-30 ms), and the store's limit for such reads (0: none). The stored
        logs only: ClickHouse estimates no view, and the unflushed ones are seconds' worth."""
        stored = dataclasses.replace(self.store.tables, instance="")
        sql, params, _ = histogram_sql(stored, self.compile(query), time_range, 1)
        rows = self.store.query("EXPLAIN ESTIMATE " + sql, params)
        return {
            "rows": sum(int(r[3]) for r in rows),
            "parts": sum(int(r[2]) for r in rows),
            "marks": sum(int(r[4]) for r in rows),
            "limit": self.store.scan_rows_limit,
        }

    def histogram(self, query: str, time_range: TimeRange, buckets: int = DEFAULT_HISTOGRAM_BUCKETS) -> dict[str, Any]:
        """Matches per time bucket and level over a closed range."""
        sql, params, step = histogram_sql(self.store.tables, self.compile(query), time_range, buckets)
        counts: list[dict[str, int]] = [{} for _ in range(buckets)]
        total = 0
        # (grouping by the level's name in SQL: +40 %)
        for bucket, number, text, n in self.store.query(sql, params, scan=True):
            if 0 <= bucket < buckets:
                level = level_from_number(number) or text or "UNSET"
                counts[bucket][level] = counts[bucket].get(level, 0) + int(n)
                total += int(n)
        return _bucketed(time_range, step, total, counts)

    def log(self, log_id: str, marker: CompiledQuery | None = None) -> dict[str, Any]:
        """The log with this id (`ts-id`, its cursor), with `matches` when a `marker` is given;
        raises NotFound, or ValueError for what is no id."""
        cursor = Cursor.decode(log_id)
        params = {"ts": cursor.ts, "id": cursor.id, **(marker.params if marker else {})}
        sql = (
            f"SELECT {_WHOLE_SELECT}{', ' + marker.sql if marker else ''} FROM {self.store.tables.all('logs')} "
            "WHERE Timestamp = fromUnixTimestamp64Nano({ts:Int64}) AND Id = {id:UInt64} LIMIT 1"
        )
        rows = self._logs(self.store.query(sql, params), marker is not None)
        if not rows:
            raise NotFound(f"no log has the id {log_id} (it may have passed the retention period)")
        return rows[0]

    def context(
        self,
        log_id: str,
        before: int = DEFAULT_CONTEXT_ROWS,
        after: int = DEFAULT_CONTEXT_ROWS,
        by: str = "service",
        query: str = "",
        whole: bool = False,
    ) -> dict[str, Any]:
        """The logs around one, oldest first, ignoring any search: `before` older and `after` newer
        in the same scope (CONTEXT_SCOPES; "service" is the same service and, when the log has
        one, the same host). With `query`, each log says whether it matches it; `whole`: the logs
        around read whole too (the log itself always is). Raises NotFound,
        NoScope, QueryError, ValueError (a bad id or scope)."""
        if by not in CONTEXT_SCOPES:
            raise ValueError(f"unknown context scope {by!r}: use one of {', '.join(CONTEXT_SCOPES)}")
        marker = _renamed(self.compile(query), "m") if query else None  # matches: a column of each read
        anchor = self.log(log_id, marker)
        scope = _scope(anchor, by)
        scoped = self.compile(" ".join(format_term(k, v) for k, v in scope.items()))
        if marker is not None:
            scoped = CompiledQuery(scoped.sql, {**scoped.params, **marker.params})
        at = Cursor.decode(anchor["cursor"])
        # the two sides at once: each is a short read in order, mostly waiting on one core
        later = _SIDES.submit(contextvars.copy_context().run, self._beside, scoped, after, None, at, marker, whole)
        older, more_before = self._beside(scoped, before, at, None, marker, whole)
        newer, more_after = later.result()
        return {
            "log_id": anchor["cursor"],
            "by": by,
            "scope": scope,
            "logs": [*reversed(older), anchor, *newer],
            "anchor": len(older),
            "more_before": more_before,
            "more_after": more_after,
        }

    def _beside(
        self,
        scoped: CompiledQuery,
        limit: int,
        before: Cursor | None,
        after: Cursor | None,
        marker: CompiledQuery | None,
        whole: bool,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` logs of the scope next to a cursor (nearest first) and whether there are more."""
        if limit <= 0:
            return [], False
        also = marker.sql if marker else ""
        sql, params = page_sql(self.store.tables, scoped, TimeRange(), limit + 1, before, after, also, whole)
        rows = self._logs(self.store.query(sql, params), marker is not None)
        return rows[:limit], len(rows) > limit

    @staticmethod
    def _logs(rows: Sequence[Sequence[Any]], marked: bool) -> list[dict[str, Any]]:
        """Result rows as the API's logs; `marked`: each row ends with whether it matches a search."""
        if not marked:
            return [row_to_dict(r) for r in rows]
        return [{**row_to_dict(r[:-1]), "matches": bool(r[-1])} for r in rows]


def _renamed(compiled: CompiledQuery, prefix: str) -> CompiledQuery:
    """The same condition with its parameters renamed (`{p0:…}` -> `{m0:…}`), to sit beside another."""
    sql = re.sub(r"\{p(\d+):", lambda m: "{" + prefix + m.group(1) + ":", compiled.sql)
    return CompiledQuery(f"({sql})", {prefix + name[1:]: value for name, value in compiled.params.items()})


def _scope(log: dict[str, Any], by: str) -> dict[str, str]:
    """The search terms (key -> value) that make a context scope around `log`."""
    if by == "all":
        return {}
    if by == "service":
        scope = {"service_name": log["service_name"]}
        host = _host(log)
        if host:
            scope[HOST_KEY] = host
        return scope
    key, value = {
        "host": (HOST_KEY, _host(log)),
        "session": ("session_id", log["session_id"]),
        "trace": ("trace_id", log["trace_id"]),
    }[by]
    if not value:
        raise NoScope(f"this log has no {key}: choose another scope")
    return {key: value}


def _host(log: dict[str, Any]) -> str:
    """The log's host.name: its own attribute, else its resource's (as a search sees them)."""
    value = log["attributes"].get(HOST_KEY, log["resource_attributes"].get(HOST_KEY, ""))
    return value if isinstance(value, str) else str(value)
