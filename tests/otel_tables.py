"""The OpenTelemetry Collector's ClickHouse exporter tables, created with its own DDL (from
opentelemetry-collector-contrib, exporter/clickhouseexporter/internal/sqltemplates), in both the
classic shape and the newer one, and filled with rows in its conventions."""

from __future__ import annotations

import json
import time
from typing import Any

# logs_table.sql, classic: TimestampTime, ORDER BY (ServiceName, TimestampTime, Timestamp)
CLASSIC_LOGS = """
CREATE TABLE IF NOT EXISTS "{db}"."otel_logs" (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),

    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8,
    INDEX idx_body_ngrambf Body TYPE ngrambf_v1(4, 32768, 3, 0) GRANULARITY 1
    ) ENGINE = MergeTree()
    PARTITION BY toDate(TimestampTime)
    PRIMARY KEY (ServiceName, TimestampTime)
    ORDER BY (ServiceName, TimestampTime, Timestamp)
    TTL TimestampTime + toIntervalDay(30)
    SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

# logs_table.sql, newer: EventName, no TimestampTime, ORDER BY (toStartOfFiveMinutes(Timestamp), ...)
NEWER_LOGS = """
CREATE TABLE IF NOT EXISTS "{db}"."otel_logs" (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),

    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

# traces_table.sql (bloom filters, without full-text search)
TRACES = """
CREATE TABLE IF NOT EXISTS "{db}"."otel_traces" (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

TRACE_ID = "5b8efff798038103d269b633813fc60c"
ROOT_SPAN, CHILD_SPAN = "eee19b7ec3c1b174", "aaa19b7ec3c1b175"
TIED = 300  # logs of one nanosecond: the cursor must page through them all, once each


def log_rows(now_ns: int) -> list[dict[str, Any]]:
    """Logs as the exporter writes them: ServiceName from service.name, the severity as sent,
    attribute values as text (JSON for arrays and maps)."""
    resource = {"service.name": "checkout", "service.version": "1.2", "deployment.environment.name": "prod"}
    rows = [
        dict(
            Timestamp=now_ns - 5_000_000_000,
            TraceId=TRACE_ID,
            SpanId=CHILD_SPAN,
            SeverityText="Information",
            SeverityNumber=9,
            ServiceName="checkout",
            Body="payment accepted for order 1",
            ResourceAttributes=resource,
            LogAttributes={"session.id": "s-1", "user.id": "42", "tags": '["prod","eu"]', "http": '{"method":"GET"}'},
        ),
        dict(
            Timestamp=now_ns - 4_000_000_000,
            TraceId=TRACE_ID,
            SpanId=CHILD_SPAN,
            SeverityText="Error",
            SeverityNumber=17,
            ServiceName="checkout",
            Body="payment declined for order 2",
            ResourceAttributes=resource,
            LogAttributes={"session.id": "s-1", "duration_ms": "750"},
        ),
        dict(
            Timestamp=now_ns - 3_000_000_000,
            SeverityText="warning",  # no number: the level comes from the text
            SeverityNumber=0,
            ServiceName="payments",
            Body="retrying the card network",
            ResourceAttributes={"service.name": "payments", "deployment.environment.name": "staging"},
            LogAttributes={"duration_ms": "120"},
        ),
    ]
    rows += [
        dict(
            Timestamp=now_ns - 10_000_000_000,  # every one the same nanosecond
            SeverityText="INFO2",
            SeverityNumber=10,
            ServiceName="batch",
            Body=f"tick {i}",
            ResourceAttributes={"service.name": "batch"},
            LogAttributes={"n": str(i)},
        )
        for i in range(TIED)
    ]
    return rows


def span_rows(now_ns: int) -> list[dict[str, Any]]:
    return [
        dict(
            Timestamp=now_ns - 6_000_000_000,
            TraceId=TRACE_ID,
            SpanId=ROOT_SPAN,
            SpanName="POST /checkout",
            SpanKind="SPAN_KIND_SERVER",
            ServiceName="checkout",
            ResourceAttributes={"service.name": "checkout", "session.id": "s-1"},
            SpanAttributes={"http.method": "POST"},
            Duration=3_000_000_000,
            StatusCode="STATUS_CODE_ERROR",
            **{"Events.Timestamp": [now_ns - 4_000_000_000], "Events.Name": ["exception"]},
            **{"Events.Attributes": [{"exception.message": "card declined"}]},
        ),
        dict(
            Timestamp=now_ns - 5_500_000_000,
            TraceId=TRACE_ID,
            SpanId=CHILD_SPAN,
            ParentSpanId=ROOT_SPAN,
            SpanName="charge",
            SpanKind="SPAN_KIND_CLIENT",
            ServiceName="checkout",
            ResourceAttributes={"service.name": "checkout"},
            Duration=1_000_000_000,
            StatusCode="STATUS_CODE_UNSET",
        ),
    ]


def create(command: Any, db: str, shape: str) -> None:
    """The Collector's tables in `db`, made by `command` (a function that runs one statement)."""
    command(f"CREATE DATABASE IF NOT EXISTS {db}")
    command((CLASSIC_LOGS if shape == "classic" else NEWER_LOGS).format(db=db))
    command(TRACES.format(db=db))


def fill(command: Any, db: str, now_ns: int | None = None) -> int:
    """Rows into the Collector's tables through `command`; the time they were written around."""
    now_ns = now_ns or time.time_ns()
    for table, rows in (("otel_logs", log_rows(now_ns)), ("otel_traces", span_rows(now_ns))):
        command(
            f"INSERT INTO {db}.{table} SETTINGS date_time_input_format = 'best_effort' FORMAT JSONEachRow\n"
            + "\n".join(json.dumps({k: _iso(v) for k, v in row.items()}) for row in rows)
        )
    return now_ns


def _iso(value: Any) -> Any:
    """Nanosecond timestamps (the only large ints here) as ISO 8601 text."""
    if isinstance(value, list):
        return [_iso(v) for v in value]
    if isinstance(value, int) and value > 10**18:
        seconds, nanos = divmod(value, 10**9)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
    return value
