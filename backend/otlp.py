"""Decode OTLP/HTTP requests (protobuf or JSON) into column batches for the store."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hlog.backend import attributes, wire
from hlog.backend.attributes import CUTS, body_text, first, flatten, plain, truncate, typed_keys, types_text
from hlog.backend.limits import DEFAULT_LIMITS, Limits
from hlog.backend.wire import WireError, count_records

SESSION_KEYS = ("session.id", "hlog.session_id", "highlight.session_id")
REQUEST_KEYS = ("hlog.request_id", "highlight.trace_id")
ENVIRONMENT_KEYS = ("deployment.environment.name", "deployment.environment", "environment")
# one C-level test a record tells whether any of them is there (most records have none)
_ENVIRONMENT_SET, _SESSION_SET = frozenset(ENVIRONMENT_KEYS), frozenset(SESSION_KEYS)
_NO_LEAVES: list[str] = []  # shared by the records that have none (never changed)
UNKNOWN_SERVICE = ""  # as the Collector's exporter stores a missing service.name (the UI shows "unknown")
MAX_TIMESTAMP_NS = 2**63 - 1  # DateTime64(9) ends in 2262
OLDER_THAN_RETENTION = "timestamp older than the store's retention period (see hlog serve --retention)"
# the names the Collector's ClickHouse exporter stores, so SQL written for otel_traces works here
_SPAN_KINDS = tuple(f"SPAN_KIND_{k}" for k in ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"))
_STATUS_CODES = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class RequestTooLarge(ValueError):
    """A request with more records (or JSON objects) than one request may hold; answered 413."""


class DecodeFailure(ValueError):
    """A request body that can never be decoded; answered with 400."""


@dataclass
class Batch:
    """Column-oriented rows for one table, plus what was rejected and why."""

    columns: tuple[str, ...]
    data: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.data:
            self.data = [[] for _ in self.columns]

    @property
    def rows(self) -> int:
        """Number of rows held."""
        return len(self.data[0])


@dataclass
class Rejections:
    """Records of one request that could not be stored, and why; and warnings about what was
    stored changed (partial_success with nothing rejected)."""

    count: int = 0
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        """Count one rejected record."""
        self.count += 1
        if reason not in self.reasons:
            self.reasons.append(reason)


def _resource_context(resource_attrs: dict[str, str]) -> tuple[str, str, str, str]:
    service = resource_attrs.get("service.name") or UNKNOWN_SERVICE
    version = resource_attrs.get("service.version", "")
    return service, version, first(ENVIRONMENT_KEYS, resource_attrs), first(SESSION_KEYS, resource_attrs)


def add_logs(request: ExportLogsServiceRequest, batch: Batch, oldest_ns: int = 0) -> Rejections:
    """Append an OTLP logs request to `batch` as rows of the logs table."""
    rejections = Rejections()
    (
        ts_c,
        trace_c,
        span_c,
        flags_c,
        sev_text_c,
        sev_num_c,
        service_c,
        version_c,
        env_c,
        session_c,
        body_c,
        res_c,
        scope_name_c,
        scope_version_c,
        attrs_c,
        event_c,
        observed_c,
        res_schema_c,
        scope_schema_c,
        scope_attrs_c,
        dropped_c,
        types_c,
        leaves_c,
    ) = batch.data
    for resource_logs in request.resource_logs:
        res_types: list[str] = []
        res_inside: dict[str, list[str]] = {}
        res_attrs = flatten(resource_logs.resource.attributes, {}, res_types, res_inside)
        service, version, res_env, res_session = _resource_context(res_attrs)
        res_schema = truncate(resource_logs.schema_url, 1024)
        for scope_logs in resource_logs.scope_logs:
            scope_name, scope_version = scope_logs.scope.name, scope_logs.scope.version
            scope_schema = truncate(scope_logs.schema_url, 1024)
            scope_types: list[str] = []
            scope_attrs = flatten(scope_logs.scope.attributes, {}, scope_types)
            shared = typed_keys("resource", res_types) + typed_keys("scope", scope_types)
            start = len(ts_c)
            inside: dict[str, list[str]] = {}  # a new one only after a record filled it (few do)
            for record in scope_logs.log_records:
                observed = record.observed_time_unix_nano
                ts = record.time_unix_nano or observed or time.time_ns()
                if ts > MAX_TIMESTAMP_NS:
                    rejections.add("timestamp out of range (after 2262-04-11)")
                    continue
                if ts < oldest_ns:
                    rejections.add(OLDER_THAN_RETENTION)
                    continue
                types: list[str] = []
                attrs = flatten(record.attributes, {}, types, inside)
                number = record.severity_number
                ts_c.append(ts)
                trace_c.append(record.trace_id.hex() or first(REQUEST_KEYS, attrs))
                span_c.append(record.span_id.hex())
                flags_c.append(record.flags & 0xFF)
                sev_text_c.append(record.severity_text)  # as sent (query/severity.py reads the level)
                sev_num_c.append(number if 0 <= number <= 24 else 0)  # outside OTel's range: none
                env_c.append(_own_or(ENVIRONMENT_KEYS, _ENVIRONMENT_SET, attrs, res_env))
                session_c.append(_own_or(SESSION_KEYS, _SESSION_SET, attrs, res_session))
                body_c.append(body_text(record.body))
                attrs_c.append(attrs)
                event = record.event_name
                event_c.append(event if len(event) <= 1024 else truncate(event, 1024))
                observed_c.append(observed if observed <= MAX_TIMESTAMP_NS else MAX_TIMESTAMP_NS)
                dropped_c.append(record.dropped_attributes_count)
                types_c.append(types_text(shared, "log", types))
                if inside or res_inside:
                    leaves_c.append(_leaves(inside, res_inside, attrs))
                    inside = {}
                else:
                    leaves_c.append(_NO_LEAVES)
            # what every record of the scope shares, once for all of them
            stored = len(ts_c) - start
            for column, value in (
                (service_c, service),
                (version_c, version),
                (res_c, res_attrs),
                (scope_name_c, scope_name),
                (scope_version_c, scope_version),
                (res_schema_c, res_schema),
                (scope_schema_c, scope_schema),
                (scope_attrs_c, scope_attrs),
            ):
                column.extend([value] * stored)
    return rejections


def _own_or(keys: tuple[str, ...], keyset: frozenset[str], attrs: dict[str, str], default: str) -> str:
    """The value of the first of `keys` the record has, else `default` (the resource's)."""
    return default if keyset.isdisjoint(attrs) else first(keys, attrs) or default


def _leaves(inside: dict[str, list[str]], resource: dict[str, list[str]], attrs: dict[str, str]) -> list[str]:
    """The index tokens of what a log's arrays and maps hold, then its resource's for keys the
    log has not (a search sees the log's own value first)."""
    found = [t for tokens in inside.values() for t in tokens]
    found += [t for key, tokens in resource.items() if key not in attrs for t in tokens]
    return found[: attributes.MAX_LEAVES]


def add_spans(request: ExportTraceServiceRequest, batch: Batch, oldest_ns: int = 0) -> Rejections:
    """Append an OTLP traces request to `batch` as rows of the spans table."""
    rejections = Rejections()
    (
        ts_c,
        trace_c,
        span_c,
        parent_c,
        state_c,
        name_c,
        kind_c,
        service_c,
        version_c,
        env_c,
        session_c,
        duration_c,
        status_c,
        status_msg_c,
        res_c,
        scope_name_c,
        scope_version_c,
        attrs_c,
        events_c,
        links_c,
        flags_c,
        res_schema_c,
        scope_schema_c,
        scope_attrs_c,
        dropped_attrs_c,
        dropped_events_c,
        dropped_links_c,
        types_c,
    ) = batch.data
    for resource_spans in request.resource_spans:
        res_types: list[str] = []
        res_attrs = flatten(resource_spans.resource.attributes, {}, res_types)
        service, version, res_env, res_session = _resource_context(res_attrs)
        for scope_spans in resource_spans.scope_spans:
            scope_name, scope_version = scope_spans.scope.name, scope_spans.scope.version
            scope_types: list[str] = []
            scope_attrs = flatten(scope_spans.scope.attributes, {}, scope_types)
            shared = typed_keys("resource", res_types) + typed_keys("scope", scope_types)
            for span in scope_spans.spans:
                start = span.start_time_unix_nano or time.time_ns()
                if start > MAX_TIMESTAMP_NS:
                    rejections.add("start time out of range (after 2262-04-11)")
                    continue
                if start < oldest_ns:
                    rejections.add(OLDER_THAN_RETENTION)
                    continue
                types: list[str] = []
                attrs = flatten(span.attributes, {}, types)
                ts_c.append(start)
                trace_c.append(span.trace_id.hex())
                span_c.append(span.span_id.hex())
                parent_c.append(span.parent_span_id.hex())
                state_c.append(span.trace_state)
                name_c.append(truncate(span.name, 1024))
                kind_c.append(_SPAN_KINDS[span.kind] if 0 <= span.kind < len(_SPAN_KINDS) else str(span.kind))
                service_c.append(service)
                version_c.append(version)
                env_c.append(_own_or(ENVIRONMENT_KEYS, _ENVIRONMENT_SET, attrs, res_env))
                session_c.append(_own_or(SESSION_KEYS, _SESSION_SET, attrs, res_session))
                duration_c.append(max(0, span.end_time_unix_nano - span.start_time_unix_nano))
                code = span.status.code
                status_c.append(_STATUS_CODES[code] if 0 <= code < len(_STATUS_CODES) else str(code))
                status_msg_c.append(truncate(span.status.message))
                res_c.append(res_attrs)
                scope_name_c.append(scope_name)
                scope_version_c.append(scope_version)
                attrs_c.append(attrs)
                events_c.append(_events_json(span.events) if span.events else "")
                links_c.append(_links_json(span.links) if span.links else "")
                flags_c.append(span.flags & 0xFF)
                res_schema_c.append(truncate(resource_spans.schema_url, 1024))
                scope_schema_c.append(truncate(scope_spans.schema_url, 1024))
                scope_attrs_c.append(scope_attrs)
                dropped_attrs_c.append(span.dropped_attributes_count)
                dropped_events_c.append(span.dropped_events_count)
                dropped_links_c.append(span.dropped_links_count)
                types_c.append(types_text(shared, "span", types))
    return rejections


def _events_json(events: Any) -> str:
    """A span's events (an exception recorded on a span is one) as a JSON list."""
    return json.dumps(
        [
            {
                "timestamp_ns": e.time_unix_nano,
                "name": truncate(e.name, 1024),
                "attributes": plain(e.attributes),
                **({"dropped_attributes_count": e.dropped_attributes_count} if e.dropped_attributes_count else {}),
            }
            for e in events
        ],
        ensure_ascii=False,
    )


def _links_json(links: Any) -> str:
    """A span's links to spans of other traces as a JSON list."""
    return json.dumps(
        [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "trace_state": link.trace_state,
                "flags": link.flags,
                "attributes": plain(link.attributes),
                **(
                    {"dropped_attributes_count": link.dropped_attributes_count} if link.dropped_attributes_count else {}
                ),
            }
            for link in links
        ],
        ensure_ascii=False,
    )


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping wants base64."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str) and _HEX.match(value) and len(value) % 2 == 0:
                out[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def _replace_lone_surrogates(node: Any) -> tuple[Any, int]:
    """JSON strings with a lone UTF-16 surrogate (what a JavaScript client sends when it cuts a
    string inside an emoji) with U+FFFD in its place; and how many strings had one."""
    if isinstance(node, str):
        fixed, found = _LONE_SURROGATE.subn("\ufffd", node)
        return fixed, int(found > 0)
    if isinstance(node, dict):
        items = [(k, *_replace_lone_surrogates(v)) for k, v in node.items()]
        return {k: v for k, v, _ in items}, sum(n for _, _, n in items)
    if isinstance(node, list):
        values = [_replace_lone_surrogates(v) for v in node]
        return [v for v, _ in values], sum(n for _, n in values)
    return node, 0


_NESTED_KEYS = ("kvlistValue", "kvlist_value", "arrayValue", "array_value")


def _cut_deep_json(node: Any, nesting: int, repairs: wire.Repairs, any_depth: int = 0) -> Any:
    """OTLP/JSON with every AnyValue map or array nested deeper than `nesting` AnyValues replaced by
    its JSON text (what the protobuf path does: protobuf refuses a message nested too deeply)."""
    if isinstance(node, list):
        return [_cut_deep_json(v, nesting, repairs, any_depth) for v in node]
    if not isinstance(node, dict):
        return node
    if any(key in node for key in _NESTED_KEYS):  # an AnyValue holding a map or an array
        any_depth += 1
        if any_depth > nesting:
            repairs.deep += 1
            return {"stringValue": _deep_text(_json_any_value(node))}
    return {k: _cut_deep_json(v, nesting, repairs, any_depth) for k, v in node.items()}


def _json_any_value(node: Any) -> Any:
    """An OTLP/JSON AnyValue as plain data."""
    if not isinstance(node, dict):
        return None
    for key, value in node.items():
        if key in ("kvlistValue", "kvlist_value") and isinstance(value, dict):
            pairs = [p for p in value.get("values") or [] if isinstance(p, dict)]
            return {str(p.get("key", "")): _json_any_value(p.get("value")) for p in pairs}
        if key in ("arrayValue", "array_value") and isinstance(value, dict):
            return [_json_any_value(v) for v in value.get("values") or []]
        return value
    return None


def decode(
    kind: str, body: bytes, content_type: str, limits: Limits = DEFAULT_LIMITS
) -> tuple[ExportLogsServiceRequest | ExportTraceServiceRequest, list[str]]:
    """Decode a request body of `kind` ("logs" or "traces"), with warnings about what had to be
    repaired (strings that were not valid Unicode now hold U+FFFD, values nested too deeply are
    JSON text); raises DecodeFailure."""
    message = ExportLogsServiceRequest() if kind == "logs" else ExportTraceServiceRequest()
    repairs = wire.Repairs()
    if content_type == "application/json":
        if body.count(b"{") > limits.json_objects:  # every record is one; decoding them all would take GBs
            raise RequestTooLarge(f"more than {limits.json_objects} JSON objects in one request: send smaller batches")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise DecodeFailure(f"invalid JSON: {err}") from None
        except RecursionError:
            raise DecodeFailure("invalid OTLP/JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise DecodeFailure("invalid OTLP/JSON: the body must be an object")
        if b"\\u" in body or b"\\U" in body:  # only an escape can make a lone surrogate
            data, repairs.strings = _replace_lone_surrogates(data)
        if sum(body.count(key.encode()) for key in _NESTED_KEYS) > attributes.MAX_FLATTEN_DEPTH:  # maybe that deep
            data = _cut_deep_json(data, attributes.MAX_FLATTEN_DEPTH, repairs)
        try:
            json_format.ParseDict(_hex_ids_to_base64(data), message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as err:
            raise DecodeFailure(f"invalid OTLP/JSON: {str(err)[:300]}") from None
    else:
        try:
            records = count_records(body, limits.records_per_request)
        except WireError as err:
            raise DecodeFailure(f"invalid OTLP protobuf: {err}") from None
        if records > limits.records_per_request:
            raise RequestTooLarge(
                f"more than {limits.records_per_request} records in one request: send smaller batches"
            )
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as err:
            # one string that is not valid UTF-8, or one value nested too deeply, fails the whole
            # message: repair them, keep the records
            try:
                fixed, repairs = wire.repair(message.DESCRIPTOR, body, attributes.MAX_FLATTEN_DEPTH, _deep_text)
                if not repairs.strings and not repairs.deep:
                    raise WireError
                message.ParseFromString(fixed)
            except (WireError, DecodeError, RecursionError, ValueError):
                raise DecodeFailure(f"invalid OTLP protobuf: {err}") from None
    warnings = []
    if repairs.strings:
        warnings.append(f"{repairs.strings} strings were not valid UTF-8: the bad characters became U+FFFD")
    if repairs.deep:
        warnings.append(
            f"{repairs.deep} values were nested deeper than {attributes.MAX_FLATTEN_DEPTH} levels: kept as JSON text"
        )
    return message, warnings


def _deep_text(value: Any) -> str:
    """A value nested too deeply, as it is stored: JSON text, cut to the value limit, and the marker."""
    return attributes.truncate(attributes.compact_json(value)) + attributes.nesting_marker()


def add_request(kind: str, message: Any, batch: Batch, oldest_ns: int = 0) -> Rejections:
    """Append a decoded request of `kind` ("logs" or "traces") to `batch` (of that table's columns);
    records older than `oldest_ns` would be dropped by the retention TTL, so they are rejected.
    What the attribute and value limits cut is reported as warnings."""
    CUTS.reset()
    rejections = add_logs(message, batch, oldest_ns) if kind == "logs" else add_spans(message, batch, oldest_ns)
    rejections.warnings += CUTS.warnings()
    return rejections


def record_count(kind: str, message: Any) -> int:
    """How many records a decoded request holds (for queue accounting)."""
    if kind == "logs":
        return sum(len(s.log_records) for r in message.resource_logs for s in r.scope_logs)
    return sum(len(s.spans) for r in message.resource_spans for s in r.scope_spans)
