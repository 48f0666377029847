"""Queries behind the TUI's panes: a session's summary, attribute keys and their top values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hlog.backend.search import TimeRange
from hlog.backend.timeutil import format_ns
from hlog.query.fields import RESERVED
from hlog.query.severity import LEVEL_SQL, level_condition

if TYPE_CHECKING:
    from hlog.backend.store import Store

USER_KEYS = ("user.id", "enduser.id", "user_id", "userId", "user.email")
MAX_KEYS = 200
MAX_VALUES = 20
MAX_SESSION_REQUESTS = 500
# Keys whose values are ids: suggesting their values is useless (and costly).
_ID_COLUMNS = {"session_id", "trace_id", "span_id", "timestamp", "message"}
_COLUMN_OF_KEY = {
    "level": LEVEL_SQL,  # the levels a search means, not each sender's spelling
    "service_name": "ServiceName",
    "service_version": "ServiceVersion",
    "environment": "Environment",
}


class Explorer:
    """Aggregations for the UI; every value is bound, every identifier is ours."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def session(self, session_id: str) -> dict[str, Any] | None:
        """Summary of a session: when, how long, which services, counts by level, its requests."""
        params = {"sid": session_id}
        rows = self.store.query(
            f"SELECT count(), toUnixTimestamp64Nano(min(Timestamp)), toUnixTimestamp64Nano(max(Timestamp)), "
            f"groupUniqArray(ServiceName), sumMap(map({LEVEL_SQL}, toUInt64(1))), "
            f"argMinIf({_first_attr(USER_KEYS)}, Timestamp, {_first_attr(USER_KEYS)} != '') "  # the first user seen
            f"FROM {self.store.tables.all('logs')} WHERE SessionId = {{sid:String}}",
            params,
        )
        count, first, last, services, levels, user = rows[0]
        if not count:
            return None
        requests = self.store.query(
            f"SELECT TraceId, toUnixTimestamp64Nano(min(Timestamp)) AS start, count(), "
            f"countIf({level_condition(['ERROR', 'FATAL'])}) FROM {self.store.tables.all('logs')} "
            f"WHERE SessionId = {{sid:String}} AND TraceId != '' GROUP BY TraceId ORDER BY start "
            f"LIMIT {MAX_SESSION_REQUESTS}",
            params,
        )
        spans = {
            r[0]: r[1:]
            for r in self.store.query(
                f"SELECT TraceId, argMin(SpanName, ParentSpanId != ''), max(Duration), "
                f"max(StatusCode IN ('STATUS_CODE_ERROR', 'ERROR')), argMin(ServiceName, ParentSpanId != '') "
                f"FROM {self.store.tables.all('spans')} WHERE SessionId = {{sid:String}} GROUP BY TraceId",
                params,
            )
        }
        level_counts = {k or "UNSET": int(v) for k, v in dict(levels).items()}
        return {
            "session_id": session_id,
            "user_id": user or "",
            "first_ns": first,
            "last_ns": last,
            "first": format_ns(first),
            "last": format_ns(last),
            "duration_ns": last - first,
            "services": sorted(services),
            "log_count": int(count),
            "levels": level_counts,
            "errors": level_counts.get("ERROR", 0) + level_counts.get("FATAL", 0),
            "requests": [_request(trace, start, n, errors, spans.get(trace)) for trace, start, n, errors in requests],
        }

    def keys(self, time_range: TimeRange) -> list[dict[str, Any]]:
        """Reserved keys, then the most frequent attribute keys in the range."""
        params: dict[str, Any] = {}
        where = " AND ".join(time_range.sql(params)) or "1"
        rows = self.store.query(
            f"SELECT key, count() AS n FROM {self.store.tables.all('logs')} "
            f"ARRAY JOIN arrayConcat(mapKeys(LogAttributes), mapKeys(ResourceAttributes)) AS key "
            f"WHERE {where} GROUP BY key ORDER BY n DESC, key LIMIT {MAX_KEYS}",
            params,
        )
        reserved = sorted({c.name for c in RESERVED.values()})
        return [{"key": k, "reserved": True} for k in reserved] + [
            {"key": k, "reserved": False, "count": int(n)} for k, n in rows if k not in RESERVED
        ]

    def values(self, key: str, time_range: TimeRange, prefix: str = "") -> list[dict[str, Any]]:
        """The most frequent values of a key in the range that start with `prefix` in any case
        (none for id-like keys)."""
        column = RESERVED.get(key.lower())
        if column is not None and column.name in _ID_COLUMNS:
            return []
        params: dict[str, Any] = {"k": key, "prefix": prefix}
        conditions = time_range.sql(params)
        if column is not None:
            expr = _COLUMN_OF_KEY[column.name]
        else:
            expr = (
                "if(mapContains(LogAttributes, {k:String}), LogAttributes[{k:String}], ResourceAttributes[{k:String}])"
            )
            conditions.append("(mapContains(LogAttributes, {k:String}) OR mapContains(ResourceAttributes, {k:String}))")
        conditions.append(f"startsWith(lowerUTF8({expr}), lowerUTF8({{prefix:String}}))")  # any case
        rows = self.store.query(
            f"SELECT {expr} AS v, count() AS n FROM {self.store.tables.all('logs')} WHERE {' AND '.join(conditions)} "
            f"GROUP BY v ORDER BY n DESC, v LIMIT {MAX_VALUES}",
            params,
        )
        return [{"value": v, "count": int(n)} for v, n in rows if v != ""]


def _request(trace: str, start: int, logs: int, errors: int, span: Any) -> dict[str, Any]:
    """One request of a session; `span` is (name, duration, failed, service) of its root, or None."""
    name, duration, failed, service = span if span is not None else ("", 0, 0, "")
    return {
        "trace_id": trace,
        "start_ns": start,
        "start": format_ns(start),
        "logs": int(logs),
        "errors": int(errors),
        "name": name,
        "duration_ns": int(duration),
        "status": "" if span is None else ("ERROR" if failed else "OK"),
        "service_name": service,
    }


def _first_attr(keys: tuple[str, ...]) -> str:
    # constant keys of ours, inlined as string literals
    parts = ", ".join(f"LogAttributes['{k}']" for k in keys)
    return f"arrayFirst(x -> x != '', [{parts}])"
