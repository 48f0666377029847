"""Read the OpenTelemetry Collector's ClickHouse tables as they are (`--source otel`).

The Collector's exporter writes `otel_logs` and `otel_traces`. hlog reads them through two views
in its own state database (`--state-database`, default `hlog`), named and shaped as hlog's own
`logs` and `spans`, so every search, page, histogram, session, trace and alert runs unchanged.
Nothing is created or changed in the Collector's database. The views are made anew at each
start, from the columns the tables have: the exporter's classic DDL and its newer one both work.

What the exporter does not store is derived: `Id` (the paging cursor's tie-breaker) is a hash of
the row's content, `SessionId`, `Environment` and `ServiceVersion` come from the attributes as
ingest takes them, the level from SeverityNumber else SeverityText (query/severity.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hlog.query.severity import SEVERITY_LEVEL_SQL

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

SOURCES = ("hlog", "otel")
DEFAULT_LOGS_TABLE = "otel_logs"
DEFAULT_TRACES_TABLE = "otel_traces"
DEFAULT_STATE_DATABASE = "hlog"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# the same keys, in the same order, as ingest reads them (backend/otlp.py)
SESSION_KEYS = ("session.id", "hlog.session_id", "highlight.session_id")
ENVIRONMENT_KEYS = ("deployment.environment.name", "deployment.environment", "environment")


class SourceError(ValueError):
    """The Collector's tables are missing or not what the exporter makes."""


@dataclass(frozen=True)
class OtelSource:
    """Where the Collector's tables are."""

    database: str
    logs_table: str = DEFAULT_LOGS_TABLE
    traces_table: str = DEFAULT_TRACES_TABLE

    def __post_init__(self) -> None:
        for name in (self.database, self.logs_table, self.traces_table):
            if not _IDENTIFIER.match(name):
                raise SourceError(f"{name!r} is not a plain table or database name")


def _first(keys: tuple[str, ...], maps: tuple[str, ...]) -> str:
    """The first non-empty value of any key, searching each map in turn (as ingest does)."""
    cases = [f"{m}['{k}'] != '', {m}['{k}']" for m in maps for k in keys]
    return f"multiIf({', '.join(cases)}, '')"


def _columns(client: Client, database: str, table: str) -> dict[str, str]:
    rows = client.query(
        "SELECT name, type FROM system.columns WHERE database = {d:String} AND table = {t:String}",
        parameters={"d": database, "t": table},
    ).result_rows
    return {str(name): str(type_) for name, type_ in rows}


def _or_default(columns: dict[str, str], name: str, default: str) -> str:
    return name if name in columns else f"{default} AS {name}"


_EMPTY = "''"
_EMPTY_TYPES = "toLowCardinality('')"
_EMPTY_MAP = "CAST(map(), 'Map(LowCardinality(String), String)')"


def logs_view(source: OtelSource, columns: dict[str, str]) -> str:
    """The SELECT of hlog's `logs` over the Collector's logs table."""
    attrs = ("LogAttributes", "ResourceAttributes")
    return (
        "SELECT Timestamp, "
        # no Id: the row's content decides ties between logs of one nanosecond, the same every read
        "cityHash64(TraceId, SpanId, SeverityNumber, ServiceName, Body) AS Id, "
        "TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, "
        "ResourceAttributes['service.version'] AS ServiceVersion, "
        f"{_first(ENVIRONMENT_KEYS, attrs)} AS Environment, {_first(SESSION_KEYS, attrs)} AS SessionId, "
        "Body, ResourceAttributes, ScopeName, ScopeVersion, LogAttributes, "
        f"{_or_default(columns, 'EventName', _EMPTY)}, "
        "toDateTime64(0, 9) AS ObservedTimestamp, "  # the exporter does not keep it
        f"{_or_default(columns, 'ResourceSchemaUrl', _EMPTY)}, {_or_default(columns, 'ScopeSchemaUrl', _EMPTY)}, "
        f"{_or_default(columns, 'ScopeAttributes', _EMPTY_MAP)}, toUInt32(0) AS DroppedAttributesCount, "
        f"{_EMPTY_TYPES} AS AttributeTypes, toUInt8({SEVERITY_LEVEL_SQL}) AS SeverityLevel "
        f"FROM {source.database}.{source.logs_table}"
    )


def _nested_json(fields: list[tuple[str, str]], columns: str) -> str:
    """A JSON list of objects from the arrays of a Nested column (`fields`: JSON name, SQL of one element)."""
    names = ", ".join(f"x{i}" for i in range(len(fields)))
    parts = ", ',', ".join(f"'\"{name}\":', {sql}" for name, sql in fields)
    return f"concat('[', arrayStringConcat(arrayMap(({names}) -> concat('{{', {parts}, '}}'), {columns}), ','), ']')"


def spans_view(source: OtelSource, columns: dict[str, str] | None) -> str:
    """The SELECT of hlog's `spans` over the Collector's traces table (no rows when it has none)."""
    if columns is None:
        return (
            "SELECT toDateTime64(0, 9) AS Timestamp, toUInt64(0) AS Id, '' AS TraceId, '' AS SpanId, "
            "'' AS ParentSpanId, '' AS TraceState, '' AS SpanName, '' AS SpanKind, '' AS ServiceName, "
            "'' AS ServiceVersion, '' AS Environment, '' AS SessionId, toUInt64(0) AS Duration, "
            f"'' AS StatusCode, '' AS StatusMessage, {_EMPTY_MAP} AS ResourceAttributes, '' AS ScopeName, "
            f"'' AS ScopeVersion, {_EMPTY_MAP} AS SpanAttributes, '' AS Events, '' AS Links, "
            "toUInt8(0) AS TraceFlags, '' AS ResourceSchemaUrl, '' AS ScopeSchemaUrl, "
            f"{_EMPTY_MAP} AS ScopeAttributes, toUInt32(0) AS DroppedAttributesCount, "
            "toUInt32(0) AS DroppedEventsCount, toUInt32(0) AS DroppedLinksCount, "
            f"{_EMPTY_TYPES} AS AttributeTypes FROM system.one WHERE 0"
        )
    attrs = ("SpanAttributes", "ResourceAttributes")
    events = _nested_json(
        [
            ("timestamp_ns", "toString(toUnixTimestamp64Nano(x0))"),
            ("name", "toJSONString(x1)"),
            ("attributes", "toJSONString(x2)"),
        ],
        "`Events.Timestamp`, `Events.Name`, `Events.Attributes`",
    )
    links = _nested_json(
        [
            ("trace_id", "toJSONString(x0)"),
            ("span_id", "toJSONString(x1)"),
            ("trace_state", "toJSONString(x2)"),
            ("attributes", "toJSONString(x3)"),
        ],
        "`Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`",
    )
    return (
        "SELECT Timestamp, cityHash64(TraceId, SpanId) AS Id, TraceId, SpanId, ParentSpanId, TraceState, "
        "SpanName, SpanKind, ServiceName, ResourceAttributes['service.version'] AS ServiceVersion, "
        f"{_first(ENVIRONMENT_KEYS, attrs)} AS Environment, {_first(SESSION_KEYS, attrs)} AS SessionId, "
        "Duration, StatusCode, StatusMessage, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, "
        f"{events} AS Events, {links} AS Links, toUInt8(0) AS TraceFlags, "
        f"{_or_default(columns, 'ResourceSchemaUrl', _EMPTY)}, {_or_default(columns, 'ScopeSchemaUrl', _EMPTY)}, "
        f"{_or_default(columns, 'ScopeAttributes', _EMPTY_MAP)}, toUInt32(0) AS DroppedAttributesCount, "
        "toUInt32(0) AS DroppedEventsCount, toUInt32(0) AS DroppedLinksCount, "
        f"{_EMPTY_TYPES} AS AttributeTypes FROM {source.database}.{source.traces_table}"
    )


_LOG_COLUMNS = ("Timestamp", "TraceId", "SpanId", "SeverityText", "SeverityNumber", "ServiceName", "Body")


def view_statements(client: Client, source: OtelSource, state_db: str) -> list[str]:
    """(Re)make the views of `state_db` over the Collector's tables; raises SourceError."""
    logs = _columns(client, source.database, source.logs_table)
    if not logs:
        raise SourceError(
            f"database {source.database} has no table {source.logs_table}: the Collector's ClickHouse exporter "
            "makes it (--logs-table names another)"
        )
    missing = [c for c in (*_LOG_COLUMNS, "ResourceAttributes", "LogAttributes") if c not in logs]
    if missing:
        raise SourceError(
            f"{source.database}.{source.logs_table} is not a table of the Collector's exporter: "
            f"it has no {', '.join(missing)}"
        )
    traces = _columns(client, source.database, source.traces_table) or None
    return [
        f"CREATE OR REPLACE VIEW {state_db}.logs AS {logs_view(source, logs)}",
        f"CREATE OR REPLACE VIEW {state_db}.spans AS {spans_view(source, traces)}",
    ]
