"""Turn existing log files (JSON lines or plain text) into OTLP log requests."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from hlog.backend.attributes import compact_json
from hlog.query import parse_timestamp_ns
from hlog.query.severity import LEVEL_RANGES, level_from_text, normalize_severity

TIME_KEYS = ("timestamp", "time", "ts", "@timestamp", "date", "datetime", "t")
LEVEL_KEYS = ("level", "severity", "severity_text", "lvl", "loglevel", "log.level", "levelname")
MESSAGE_KEYS = ("message", "msg", "body", "log", "text", "event")
SERVICE_KEYS = ("service", "service_name", "service.name", "app", "application")
SESSION_KEYS = ("session_id", "sessionId", "session.id", "hlog.session_id")
TRACE_KEYS = ("trace_id", "traceId", "trace.id")
SPAN_KEYS = ("span_id", "spanId", "span.id")
BATCH_RECORDS = 2_000
# a JSON value nested deeper is sent as its JSON text: protobuf reads about 32 maps deep (each
# costs three messages); the backend keeps 16 levels as maps by default (--limit nesting=N)
MAX_JSON_DEPTH = 24

_TEXT_TIME = (
    re.compile(r"^\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\]?"),
    re.compile(r"\[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]"),
    re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\b"),
)
_TEXT_LEVEL = re.compile(
    r"(?:\blevel=|\[|\b)(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|"
    r"trace|debug|info|warn|warning|error|fatal|critical)(?:\]|\b)"
)
_HEX_ID = re.compile(r"^[0-9a-fA-F]+$")


@dataclass
class LineRecord:
    """One log read from a file, before it becomes OTLP."""

    ts_ns: int
    level: str
    body: Any  # the message: text, or a JSON value (a map body is stored as compact JSON)
    service: str
    attributes: dict[str, Any] = field(default_factory=dict)  # JSON values, sent with their types
    trace_id: bytes = b""
    span_id: bytes = b""


def _number_time_ns(value: float) -> int:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude."""
    for limit, scale in ((1e11, 1e9), (1e14, 1e6), (1e17, 1e3)):
        if abs(value) < limit:
            return int(value * scale)
    return int(value)


def parse_any_time_ns(value: Any) -> int | None:
    """A timestamp from a JSON value or text, in the formats logs commonly use."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _number_time_ns(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", ".")
    if re.fullmatch(r"\d{10,19}(?:\.\d+)?", text):
        return _number_time_ns(float(text))
    ns = parse_timestamp_ns(text.replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d ", text) else text)
    if ns is not None:
        return ns
    for fmt in ("%d/%b/%Y:%H:%M:%S %z", "%b %d %H:%M:%S"):
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(year=datetime.now(UTC).year, tzinfo=UTC)
        return int(dt.timestamp()) * 1_000_000_000
    return None


class _TooDeep(Exception):
    pass


def any_value(value: Any) -> AnyValue:
    """A JSON value as an OTLP AnyValue of its type: a number stays a number, an object a map, an
    array an array (null: an empty value). One nested past MAX_JSON_DEPTH is sent as its JSON text."""
    try:
        return _typed(value, 0)
    except _TooDeep:
        return AnyValue(string_value=compact_json(value))


def _typed(value: Any, depth: int) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value) if -(2**63) <= value < 2**63 else AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, (dict, list)) and depth >= MAX_JSON_DEPTH:
        raise _TooDeep
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_typed(item, depth + 1) for item in value]))
    if isinstance(value, dict):
        pairs = [KeyValue(key=str(k), value=_typed(v, depth + 1)) for k, v in value.items() if v is not None]
        return AnyValue(kvlist_value=KeyValueList(values=pairs))
    return AnyValue()


def _pop_first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The first of `keys` with a value, taken out of `obj`; empty ones are taken out too (an
    empty trace id is no attribute)."""
    found = None
    for key in keys:
        if key in obj and obj[key] in (None, ""):
            del obj[key]
        elif key in obj and found is None:
            found = obj.pop(key)
    return found


def _hex_bytes(value: Any, size: int) -> bytes:
    text = str(value or "")
    return bytes.fromhex(text) if len(text) == size * 2 and _HEX_ID.match(text) else b""


def parse_json_line(obj: dict[str, Any], default_service: str, now_ns: int) -> LineRecord:
    """A record from one JSON object, using the common names for time, level, message, service."""
    obj = dict(obj)
    raw_time = _pop_first(obj, TIME_KEYS)
    ts = parse_any_time_ns(raw_time) if raw_time is not None else None
    if raw_time is not None and ts is None:
        obj["original_timestamp"] = raw_time
    level = _pop_first(obj, LEVEL_KEYS)
    message = _pop_first(obj, MESSAGE_KEYS)
    service = _pop_first(obj, SERVICE_KEYS)
    session = _pop_first(obj, SESSION_KEYS)
    trace_id = _hex_bytes(_pop_first(obj, TRACE_KEYS), 16)
    span_id = _hex_bytes(_pop_first(obj, SPAN_KEYS), 8)
    attributes = {str(key): value for key, value in obj.items() if value is not None}
    if session is not None:
        attributes["session.id"] = str(session)
    return LineRecord(
        ts or now_ns, str(level or ""), message, str(service or default_service), attributes, trace_id, span_id
    )


def parse_text_line(line: str, default_service: str, now_ns: int) -> LineRecord:
    """A record from a plain text line: its timestamp and level when it shows them."""
    ts = None
    for pattern in _TEXT_TIME:
        m = pattern.search(line)
        if m:
            ts = parse_any_time_ns(m.group(1))
            if ts is not None:
                break
    level = ""
    m = _TEXT_LEVEL.search(line[:200])
    if m and level_from_text(m.group(1)) in LEVEL_RANGES:
        level = m.group(1)
    return LineRecord(ts or now_ns, level, line, default_service)


def parse_lines(lines: Iterable[str], default_service: str) -> Iterator[LineRecord]:
    """Records from lines of a file; JSON objects and text may be mixed. Blank lines are skipped."""
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        now_ns = time.time_ns()
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):  # (nested past what the parser reads: a text line)
                obj = None
            if isinstance(obj, dict):
                yield parse_json_line(obj, default_service, now_ns)
                continue
        yield parse_text_line(line, default_service, now_ns)


def to_request(records: list[LineRecord]) -> ExportLogsServiceRequest:
    """One OTLP request holding `records`, one resource per service."""
    request = ExportLogsServiceRequest()
    scopes: dict[str, Any] = {}
    for record in records:
        scope = scopes.get(record.service)
        if scope is None:
            resource_logs = request.resource_logs.add()
            resource_logs.resource.attributes.append(
                KeyValue(key="service.name", value=AnyValue(string_value=record.service))
            )
            scope = resource_logs.scope_logs.add()
            scope.scope.name = "hlog.ingest"
            scopes[record.service] = scope
        log_record = scope.log_records.add()
        log_record.time_unix_nano = max(0, record.ts_ns)
        # a file has no OTel severity: its level word gives the number, and stays the text
        log_record.severity_text, log_record.severity_number = normalize_severity(record.level, 0)
        log_record.body.CopyFrom(any_value("" if record.body is None else record.body))
        log_record.trace_id = record.trace_id
        log_record.span_id = record.span_id
        for key, value in record.attributes.items():
            log_record.attributes.append(KeyValue(key=key, value=any_value(value)))
    return request
