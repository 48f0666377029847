"""OTLP/HTTP ingest: encodings, bad input, partial success, overload, normalisation."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import logging
import struct
import subprocess
import sys
import time
import uuid
import zlib

import httpx
import pytest
from backports.zstd import ZstdCompressor
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from starlette.testclient import TestClient

from hlog.backend.app import Backend
from hlog.backend.limits import DEFAULT_LIMITS
from hlog.backend.search import TimeRange
from hlog.backend.store import Store
from hlog.backend.timeutil import format_ns
from tests.conftest import Server, api_client, api_get, logs_request, page_bodies, post_logs

PB = {"Content-Type": "application/x-protobuf"}


def all_logs(client: TestClient, query: str = "") -> list[dict]:
    response = client.get("/api/logs", params={"q": query, "limit": 1000})
    assert response.status_code == 200, response.text
    return response.json()["logs"]


def test_protobuf_gzip_and_json(client: TestClient) -> None:
    body = logs_request([{"body": "gzipped", "level": "INFO"}]).SerializeToString()
    r = client.post("/v1/logs", content=gzip.compress(body), headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    assert ExportLogsServiceResponse.FromString(r.content).partial_success.rejected_log_records == 0
    otlp_json = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(time.time_ns()),
                                "severityNumber": 13,
                                "body": {"stringValue": "from json"},
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "attributes": [{"key": "n", "value": {"intValue": "5"}}],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    r = client.post("/v1/logs", content=json.dumps(otlp_json), headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
    (log,) = all_logs(client, "service:js")
    assert log["trace_id"] == "5b8efff798038103d269b633813fc60c" and log["span_id"] == "eee19b7ec3c1b174"
    assert log["level"] == "WARN" and log["attributes"] == {"n": 5} and log["body"] == "from json"
    assert log["attribute_types"] == {"attributes": {"n": "int"}}
    assert [x["body"] for x in all_logs(client, "gzipped")] == ["gzipped"]


def test_bad_input(client: TestClient) -> None:
    r = client.post("/v1/logs", content=b"\xff\x00garbage", headers=PB)
    assert r.status_code == 400
    assert "invalid OTLP protobuf" in status_pb2.Status.FromString(r.content).message
    r = client.post("/v1/logs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "invalid JSON" in r.json()["message"]
    r = client.post("/v1/logs", content=b'{"resourceLogs": 5}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "OTLP/JSON" in r.json()["message"]
    r = client.post("/v1/logs", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/v1/logs", content=b"x", headers={**PB, "Content-Encoding": "br"})
    assert r.status_code == 415
    r = client.post("/v1/logs", content=b"not gzip", headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 400
    backend = client.app.state.backend  # type: ignore[attr-defined]
    backend.limits = dataclasses.replace(backend.limits, request_bytes=1000)
    r = client.post("/v1/logs", content=b"\x00" * 2000, headers=PB)
    assert r.status_code == 413
    bomb = gzip.compress(b"\x00" * 100_000)
    assert len(bomb) < 1000
    r = client.post("/v1/logs", content=bomb, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert all_logs(client) == []
    assert client.get("/healthz").json()["status"] == "ok"


def test_partial_success_rejects_only_bad_records(client: TestClient) -> None:
    req = logs_request(
        [{"body": "good one"}, {"body": "far future", "ts": 2**64 - 1}, {"body": "too old", "ts": 10**18}]
    )
    r = client.post("/v1/logs", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    partial = ExportLogsServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_log_records == 2
    assert "out of range" in partial.error_message and "retention" in partial.error_message
    assert [x["body"] for x in all_logs(client)] == ["good one"]


def test_overload_answers_503_with_retry_after(store: Store) -> None:
    backend = Backend(store, max_pending_records=1000)
    bodies = [logs_request([{"body": f"r{n}.{i}"} for i in range(1000)]).SerializeToString() for n in range(5)]

    async def run() -> list[httpx.Response]:
        async with backend.running():
            transport = httpx.ASGITransport(app=backend.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                return await asyncio.gather(*(http.post("/v1/logs", content=body, headers=PB) for body in bodies))

    responses = asyncio.run(run())
    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 200 and codes[-1] == 503
    refused = [r for r in responses if r.status_code == 503]
    assert all(r.headers["Retry-After"] == "1" for r in refused)
    accepted = sum(1 for r in responses if r.status_code == 200)
    rows = store.query(f"SELECT count() FROM {store.db}.logs")[0][0]
    assert rows == accepted * 1000  # acknowledged means stored; refused means nothing stored


def test_normalisation(client: TestClient) -> None:
    nested = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                KeyValue(key="id", value=AnyValue(int_value=7)),
                KeyValue(
                    key="tags",
                    value=AnyValue(
                        array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(bool_value=True)])
                    ),
                ),
            ]
        )
    )
    req = logs_request(
        [
            {"body": "sev text only", "level": "warning"},
            {"body": "sev number only", "number": 18},
            {"body": "critical", "level": "critical"},
            {"body": "err", "level": "err", "attrs": {"highlight.session_id": "hs", "hlog.request_id": "req-9"}},
            {"body": "attr session wins", "attrs": {"session.id": "s-log", "hlog.session_id": "other"}},
            {"body": "big", "attrs": {"blob": "x" * 70_000, "raw": b"\x01\xff"}},
        ],
        resource={
            "service.name": "svc",
            "service.version": "1.2.3",
            "deployment.environment": "prod",
            "session.id": "s-res",
        },
    )
    req.resource_logs[0].scope_logs[0].log_records[0].attributes.append(KeyValue(key="user", value=nested))
    r = client.post("/v1/logs", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    logs = {x["body"]: x for x in all_logs(client)}
    # the severity is stored as sent; the level shown comes from the number, else the text
    only_text = logs["sev text only"]
    assert (only_text["level"], only_text["severity_text"], only_text["severity_number"]) == ("WARN", "warning", 0)
    only_number = logs["sev number only"]
    assert (only_number["level"], only_number["severity_text"], only_number["severity_number"]) == ("ERROR", "", 18)
    assert logs["critical"]["level"] == "FATAL" and logs["err"]["level"] == "ERROR"
    assert logs["sev text only"]["attributes"] == {"user": {"id": 7, "tags": ["a", True]}}
    assert logs["err"]["session_id"] == "hs" and logs["err"]["trace_id"] == "req-9"
    assert logs["err"]["attributes"]["hlog.request_id"] == "req-9"
    assert logs["attr session wins"]["session_id"] == "s-log"
    assert logs["sev text only"]["session_id"] == "s-res"  # from the resource
    first = logs["sev text only"]
    assert (first["service_name"], first["service_version"], first["environment"]) == ("svc", "1.2.3", "prod")
    blob = logs["big"]["attributes"]["blob"]
    assert blob.startswith("x" * 65536) and blob.endswith("…[truncated 4464 chars]")
    assert logs["big"]["attributes"]["raw"] == "Af8="  # base64, as the Collector's exporter stores bytes
    assert logs["big"]["attribute_types"] == {"attributes": {"raw": "bytes"}}


def test_severity_text_is_kept_as_sent_and_levels_follow_otel_ranges(client: TestClient) -> None:
    """`level:info` finds what OpenTelemetry calls INFO: numbers 9-12 whatever the text, and a
    text meaning INFO only when there is no number."""
    sent = [
        ("Information", 9),
        ("INFO2", 10),
        ("info", 0),
        ("Information", 0),
        ("custom-noise", 11),
        ("warning", 0),
        ("ERROR", 9),  # the number wins: INFO
        ("Verbose", 0),
        ("Custom", 0),
    ]
    post_logs(client, [{"body": f"{text}/{number}", "level": text, "number": number} for text, number in sent])
    logs = {x["body"]: x for x in all_logs(client)}
    for text, number in sent:
        assert logs[f"{text}/{number}"]["severity_text"] == text  # exactly as sent
        assert logs[f"{text}/{number}"]["severity_number"] == number

    def found(query: str) -> set[str]:
        return {x["body"] for x in all_logs(client, query)}

    infos = {"Information/9", "INFO2/10", "info/0", "Information/0", "custom-noise/11", "ERROR/9"}
    assert found("level:info") == found("level:INFORMATION") == infos
    assert found("level>=warn") == {"warning/0"}
    assert found("level<info") == {"Verbose/0"}
    assert found("level:custom") == {"Custom/0"}  # a text that names no level: itself, in any case
    assert logs["ERROR/9"]["level"] == "INFO" and logs["Custom/0"]["level"] == "Custom"
    now = time.time_ns()
    histogram = client.get(
        "/api/logs/histogram",
        params={"from": format_ns(now - 3600 * 10**9, 9), "to": format_ns(now + 10**9, 9), "buckets": 1},
    )
    assert histogram.status_code == 200, histogram.text
    assert histogram.json()["buckets"][0]["counts"] == {"INFO": 6, "WARN": 1, "TRACE": 1, "Custom": 1}


def test_unknown_service_and_missing_timestamp(client: TestClient) -> None:
    req = logs_request([{"body": "no time", "ts": 0}], resource={"k": "v"})
    before = time.time_ns()
    post_logs(client, [], None)  # an empty request is fine too
    r = client.post("/v1/logs", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    (log,) = all_logs(client)
    assert log["service_name"] == ""  # as the Collector's exporter stores it; the TUI shows "unknown"
    assert log["timestamp_ns"] >= before


def test_traces_are_stored(client: TestClient, store: Store) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="gw")))
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.parent_span_id = b"\x01" * 16, b"\x02" * 8, b"\x03" * 8
    span.name, span.kind = "GET /cart", 2
    span.start_time_unix_nano = time.time_ns()
    span.end_time_unix_nano = span.start_time_unix_nano + 5_000_000
    span.status.code = 2
    span.attributes.append(KeyValue(key="session.id", value=AnyValue(string_value="s-9")))
    r = client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    rows = store.query(
        f"SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, Duration, "
        f"StatusCode, SessionId FROM {store.tables.all('spans')}"
    )
    assert [tuple(x) for x in rows] == [
        ("01" * 16, "02" * 8, "03" * 8, "GET /cart", "SPAN_KIND_SERVER", "gw", 5_000_000, "STATUS_CODE_ERROR", "s-9")
    ]


def test_keyset_pages_are_stable_and_complete(client: TestClient) -> None:
    ts = time.time_ns() - 10**9
    # many rows share one timestamp: the row id must break the ties
    post_logs(client, [{"body": f"row {i}", "ts": ts + (i // 10)} for i in range(95)])
    seen = page_bodies(client, 7)
    assert len(seen) == 95 and len(set(seen)) == 95
    newest = client.get("/api/logs", params={"limit": 1}).json()["logs"][0]
    after = client.get("/api/logs", params={"after": newest["cursor"]}).json()
    assert after["logs"] == []


def test_every_gzip_member_deflate_and_zstd_are_read(client: TestClient) -> None:
    first = logs_request([{"body": f"member one {i}"} for i in range(3)]).SerializeToString()
    second = logs_request([{"body": f"member two {i}"} for i in range(3)]).SerializeToString()
    # two gzip members (what `cat a.gz b.gz` or a streaming compressor makes): protobuf merges the halves
    r = client.post(
        "/v1/logs", content=gzip.compress(first) + gzip.compress(second), headers={**PB, "Content-Encoding": "gzip"}
    )
    assert r.status_code == 200, r.content
    assert len(all_logs(client, "member")) == 6
    one, two, three = (logs_request([{"body": f"squeezed {n}"}]).SerializeToString() for n in range(3))
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for encoding, compressed in (
        ("deflate", zlib.compress(one)),  # zlib-wrapped, as HTTP means it
        ("deflate", raw_deflate.compress(two) + raw_deflate.flush()),  # raw, as some clients send it
        ("zstd", ZstdCompressor().compress(three, ZstdCompressor.FLUSH_FRAME)),
    ):
        r = client.post("/v1/logs", content=compressed, headers={**PB, "Content-Encoding": encoding})
        assert r.status_code == 200, (encoding, r.content)
    assert len(all_logs(client, "squeezed")) == 3
    r = client.post("/v1/logs", content=b"x", headers={**PB, "Content-Encoding": "br"})
    assert r.status_code == 415 and "zstd" in status_pb2.Status.FromString(r.content).message
    r = client.post("/v1/logs", content=gzip.compress(one)[:-4], headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 400  # cut short
    backend = client.app.state.backend  # type: ignore[attr-defined]
    backend.limits = dataclasses.replace(backend.limits, request_bytes=1000)
    for encoding, bomb in (
        ("gzip", gzip.compress(b"\x00" * 600) * 2),  # each member small, together over the limit
        ("deflate", zlib.compress(b"\x00" * 100_000)),
        ("zstd", ZstdCompressor().compress(b"\x00" * 100_000, ZstdCompressor.FLUSH_FRAME)),
    ):
        r = client.post("/v1/logs", content=bomb, headers={**PB, "Content-Encoding": encoding})
        assert r.status_code == 413, encoding


def test_the_python_exporter_with_deflate(server: Server) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    marker = "deflated-" + uuid.uuid4().hex[:8]
    provider = LoggerProvider()
    exporter = OTLPLogExporter(endpoint=server.url + "/v1/logs", compression=Compression.Deflate)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    log = logging.getLogger(marker)
    log.propagate = False
    log.addHandler(LoggingHandler(logger_provider=provider))
    log.warning("%s arrived", marker)
    assert provider.force_flush(10_000)
    provider.shutdown()
    assert api_get(server.url, "/api/logs/count", q=marker)["count"] == 1


def test_one_string_that_is_not_unicode_loses_no_record(client: TestClient) -> None:
    # OTLP/JSON from a JavaScript client that cut a string inside an emoji: a lone surrogate
    records = [
        {"timeUnixNano": str(time.time_ns()), "body": {"stringValue": text}}
        for text in ("ok one", "cut \\ud83d", "ok two")
    ]
    body = (
        '{"resourceLogs": [{"scopeLogs": [{"logRecords": '
        + json.dumps(records).replace("\\\\ud83d", "\\ud83d")
        + "}]}]}"
    )
    r = client.post("/v1/logs", content=body.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert "U+FFFD" in partial["errorMessage"] and "rejectedLogRecords" not in partial
    assert sorted(x["body"] for x in all_logs(client)) == ["cut \ufffd", "ok one", "ok two"]
    # protobuf with a string that is not UTF-8 (Latin-1 bytes), beside valid records
    good = logs_request([{"body": "still here"}, {"body": "PLACEHOLDER"}]).SerializeToString()
    bad = good.replace(b"PLACEHOLDER", b"caf\xe9 bytes!")  # same length: the framing stays right
    r = client.post("/v1/logs", content=bad, headers=PB)
    assert r.status_code == 200, r.content
    partial_pb = ExportLogsServiceResponse.FromString(r.content).partial_success
    assert partial_pb.rejected_log_records == 0 and "U+FFFD" in partial_pb.error_message
    assert "caf\ufffd bytes!" in [x["body"] for x in all_logs(client)]
    assert "still here" in [x["body"] for x in all_logs(client)]
    # what is not protobuf at all is still a 400
    assert client.post("/v1/logs", content=b"\xff\xff\xff garbage", headers=PB).status_code == 400


def test_a_retried_request_is_stored_once(store: Store) -> None:
    """An SDK that did not get the answer (its timeout passed) sends the same body again."""
    backend = Backend(store)
    body = logs_request([{"body": f"retried {i}"} for i in range(10)]).SerializeToString()

    async def run() -> list[httpx.Response]:
        async with backend.running():
            transport = httpx.ASGITransport(app=backend.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
                # two at once (the retry arrives while the first is being stored), then one more later
                answers = list(
                    await asyncio.gather(*(http.post("/v1/logs", content=body, headers=PB) for _ in range(2)))
                )
                answers.append(await http.post("/v1/logs", content=body, headers=PB))
                return answers

    answers = asyncio.run(run())
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert backend.committer.stats.repeated_requests == 2
    assert backend.search.count('"retried"', TimeRange(None, None)) == 10


def test_limits_cut_what_is_too_big_and_count_it(client: TestClient) -> None:
    from hlog.backend import attributes

    many = {f"k{i}": "v" for i in range(attributes.MAX_ATTRIBUTES + 72)}
    long_key = "k" * (attributes.MAX_KEY_CHARS + 50)
    nested: AnyValue = AnyValue(string_value="bottom")
    for _ in range(attributes.MAX_FLATTEN_DEPTH + 4):
        nested = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="n", value=nested)]))
    request = logs_request([{"body": "big one", "attrs": {long_key: "x", **many}}, {"body": "deep one"}])
    request.resource_logs[0].scope_logs[0].log_records[1].attributes.append(KeyValue(key="deep", value=nested))
    r = client.post("/v1/logs", content=request.SerializeToString(), headers=PB)
    assert r.status_code == 200, r.content
    partial = ExportLogsServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_log_records == 0  # kept, with the excess cut
    message = partial.error_message
    assert "attributes past the limit of 128" in message and "keys were cut to 256" in message
    assert "nested deeper than 16" in message
    big = all_logs(client, '"big one"')[0]
    assert len(big["attributes"]) == attributes.MAX_ATTRIBUTES
    deep = all_logs(client, '"deep one"')[0]
    (kept,) = _strings(deep["attributes"]["deep"])
    assert kept.endswith(attributes.nesting_marker()) and "bottom" in kept


def _strings(value: object) -> list[str]:
    """The strings anywhere inside a JSON value."""
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in _strings(item)]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, built by hand (protobuf cannot build what it cannot read)."""
    from hlog.backend.wire import _encode_varint

    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _deep(levels: int) -> tuple[bytes, dict[str, object]]:
    """An AnyValue nested `levels` maps deep (arrays between), as protobuf bytes and as OTLP/JSON."""
    from hlog.backend.wire import _encode_varint

    data: dict[str, object]
    wire, data = _field(1, b"bottom"), {"stringValue": "bottom"}
    for i in range(levels):
        wire = _field(6, _field(1, _field(1, b"n") + _field(2, wire)))
        data = {"kvlistValue": {"values": [{"key": "n", "value": data}]}}
        if i % 2:
            wire = _field(5, _field(1, wire) + _field(1, b"\x18" + _encode_varint(i)))  # and int_value i
            data = {"arrayValue": {"values": [data, {"intValue": str(i)}]}}
    return wire, data


def test_values_nested_past_what_protobuf_reads_lose_no_record(client: TestClient) -> None:
    """protobuf refuses a message ~100 messages deep as a whole (an attribute map 32 levels deep):
    the deep value is kept as JSON text, and the records beside it are stored."""
    from hlog.backend import attributes

    now = struct.pack("<Q", time.time_ns())
    for levels, encoding in ((40, "protobuf"), (500, "protobuf"), (40, "json")):
        marker = f"{encoding} {levels}"
        wire, data = _deep(levels)
        if encoding == "protobuf":
            records = [
                b"\x09" + now + _field(5, _field(1, f"plain {marker}".encode())),
                b"\x09" + now + _field(5, _field(1, f"deep {marker}".encode()))
                + _field(6, _field(1, b"deep") + _field(2, wire)),
                b"\x09" + now + _field(5, wire),
            ]  # fmt: skip
            body = _field(1, _field(2, b"".join(_field(2, r) for r in records)))
            with pytest.raises(DecodeError):  # what protobuf itself says of this body
                ExportLogsServiceRequest.FromString(body)
            r = client.post("/v1/logs", content=body, headers=PB)
            message = ExportLogsServiceResponse.FromString(r.content).partial_success.error_message
        else:
            ts = str(time.time_ns())
            records_json = [
                {"timeUnixNano": ts, "body": {"stringValue": f"plain {marker}"}},
                {"timeUnixNano": ts, "body": {"stringValue": f"deep {marker}"},
                 "attributes": [{"key": "deep", "value": data}]},
                {"timeUnixNano": ts, "body": data},
            ]  # fmt: skip
            r = client.post("/v1/logs", json={"resourceLogs": [{"scopeLogs": [{"logRecords": records_json}]}]})
            message = r.json().get("partialSuccess", {}).get("errorMessage", "")
        assert r.status_code == 200, r.content
        assert "nested deeper than 16" in message
        stored = {log["body"]: log for log in all_logs(client, f'"{marker}"')}
        assert set(stored) == {f"plain {marker}", f"deep {marker}"}
        deep = stored[f"deep {marker}"]["attributes"]["deep"]
        # kept as a map to the limit (the arrays' other items beside), then the rest as JSON text
        assert isinstance(deep, list) and deep[1] == levels - 1 and isinstance(deep[0]["n"]["n"], list)
        (kept,) = _strings(deep)
        assert kept.startswith('{"n"') and kept.endswith(attributes.nesting_marker())
    bodies = [log["body"] for log in all_logs(client) if log["body"].startswith(("{", "["))]
    assert len(bodies) == 3  # the deep bodies are kept too


def test_a_small_request_of_millions_of_records_is_refused_before_decoding(client: TestClient) -> None:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for _ in range(DEFAULT_LIMITS.records_per_request + 1):
        scope.log_records.add()  # empty records: 2 bytes each on the wire
    body = gzip.compress(request.SerializeToString())
    assert len(body) < 20_000
    r = client.post("/v1/logs", content=body, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "send smaller batches" in status_pb2.Status.FromString(r.content).message
    as_json = b'{"resourceLogs": [' + b"{}," * DEFAULT_LIMITS.json_objects + b"{}]}"
    r = client.post(
        "/v1/logs",
        content=gzip.compress(as_json),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 413
    assert all_logs(client) == []


def test_past_the_in_flight_budget_the_answer_is_503_at_once(store: Store) -> None:
    backend = Backend(store)
    backend.committer.max_inflight_bytes = 1000
    body = logs_request([{"body": "x" * 600}]).SerializeToString()
    with api_client(backend) as client:
        assert client.post("/v1/logs", content=body, headers=PB).status_code == 200
        assert backend.committer.reserve(500)  # another request holds half of the budget
        refused = client.post("/v1/logs", content=body + b"\x98\x06\x01", headers=PB)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        backend.committer.release(500)
        assert client.post("/v1/logs", content=body + b"\x98\x06\x01", headers=PB).status_code == 200
        assert backend.committer.available_bytes == 1000  # every request gave its share back
        backend.committer.max_active_requests = 0  # as many requests are being handled as may be
        busy = client.post("/v1/logs", content=body + b"\x98\x06\x02", headers=PB)
        assert busy.status_code == 503 and "being handled" in status_pb2.Status.FromString(busy.content).message


def test_limits_are_configurable(store: Store) -> None:
    limits = DEFAULT_LIMITS.overridden(["records_per_request=10", "inflight-bytes=1MiB", "attributes=2"])
    assert (limits.records_per_request, limits.inflight_bytes, limits.attributes) == (10, 1024 * 1024, 2)
    for wrong in ("records=10", "records_per_request", "attributes=0", "nesting=deep"):
        with pytest.raises(ValueError, match="names: request_bytes"):
            DEFAULT_LIMITS.overridden([wrong])
    with api_client(Backend(store, limits=limits)) as client:
        eleven = logs_request([{"body": f"n{i}"} for i in range(11)]).SerializeToString()
        assert client.post("/v1/logs", content=eleven, headers=PB).status_code == 413
        ten = logs_request([{"body": f"n{i}", "attrs": {"a": 1, "b": 2, "c": 3}} for i in range(10)])
        r = client.post("/v1/logs", content=ten.SerializeToString(), headers=PB)
        assert (
            r.status_code == 200
            and "limit of 2" in ExportLogsServiceResponse.FromString(r.content).partial_success.error_message
        )
    result = subprocess.run(
        [sys.executable, "-m", "hlog.backend.cli", "serve", "--limit", "records=5", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--limit 'records=5'" in result.stderr


def test_every_otlp_answer_is_in_the_request_encoding(client: TestClient) -> None:
    """OTLP/HTTP: the answer echoes the request's content type; every failure is a google.rpc.Status
    in that encoding (a 400 with BadRequest details); metrics are answered as rejected, not 404."""
    body = logs_request([{"body": "x"}]).SerializeToString()
    for media in ("application/x-protobuf", "application/protobuf"):
        ok = client.post("/v1/logs", content=body, headers={"Content-Type": media})
        assert ok.status_code == 200 and ok.headers["content-type"] == media
        bad = client.post("/v1/logs", content=b"\xff\xff not protobuf", headers={"Content-Type": media})
        assert bad.status_code == 400 and bad.headers["content-type"] == media
        status = status_pb2.Status.FromString(bad.content)
        assert status.code == 3 and status.message  # INVALID_ARGUMENT
        details = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(details) and details.field_violations[0].description == status.message
        for method, path, code in (("POST", "/v1/profiles", 404), ("GET", "/v1/logs", 405), ("PUT", "/v1/traces", 405)):
            answer = client.request(method, path, content=body, headers={"Content-Type": media})
            assert answer.status_code == code and answer.headers["content-type"] == media, (method, path)
            assert status_pb2.Status.FromString(answer.content).message
    as_json = client.post("/v1/logs", content=b'{"resourceLogs": [', headers={"Content-Type": "application/json"})
    assert as_json.status_code == 400 and as_json.headers["content-type"] == "application/json"
    parsed = as_json.json()
    assert parsed["message"] and parsed["details"][0]["@type"].endswith("google.rpc.BadRequest")
    missing = client.get("/v1/nothing", headers={"Content-Type": "application/json"})
    assert missing.status_code == 404 and missing.json()["message"].startswith("no OTLP endpoint")

    metrics = ExportMetricsServiceRequest()
    gauge = metrics.resource_metrics.add().scope_metrics.add().metrics.add()
    gauge.name = "cpu"
    for value in (0.5, 0.7, 0.9):
        gauge.gauge.data_points.add().as_double = value
    answer = client.post(
        "/v1/metrics", content=metrics.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}
    )
    assert answer.status_code == 200
    result = ExportMetricsServiceResponse.FromString(answer.content)
    assert result.partial_success.rejected_data_points == 3
    assert "not metrics" in result.partial_success.error_message


def test_every_field_of_a_log_record_and_a_span_comes_back(client: TestClient) -> None:
    """Event name, observed time, scope attributes, schema URLs, flags, trace states (span and
    link) and dropped counts: stored and returned by the API as sent."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    now = time.time_ns()
    logs = logs_request([{"body": "checkout done", "level": "INFO", "number": 9, "trace_id": "ab" * 16}])
    resource_logs = logs.resource_logs[0]
    resource_logs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    scope_logs = resource_logs.scope_logs[0]
    scope_logs.schema_url = "https://opentelemetry.io/schemas/1.21.0"
    scope_logs.scope.version = "2.1"
    scope_logs.scope.attributes.append(KeyValue(key="library.kind", value=AnyValue(string_value="http")))
    record = scope_logs.log_records[0]
    record.event_name, record.observed_time_unix_nano = "checkout.completed", now - 5
    record.flags, record.dropped_attributes_count = 1, 3
    assert client.post("/v1/logs", content=logs.SerializeToString(), headers=PB).status_code == 200
    (listed,) = all_logs(client, "checkout")
    # a list's record leaves the rest of the record to the log's own read (and to whole=1)
    assert "event_name" not in listed and "scope_attributes" not in listed
    log = client.get(f"/api/logs/{listed['log_id']}").json()["log"]
    whole = client.get("/api/logs", params={"q": "checkout", "whole": "1"}).json()["logs"]
    assert whole == [log] and {**log, **listed} == log
    assert client.get("/api/logs", params={"whole": "yes"}).json()["error"]["message"] == (
        "whole must be 1 or 0 (true or false), not 'yes'"
    )
    assert log["event_name"] == "checkout.completed" and log["observed_timestamp_ns"] == now - 5
    assert log["resource_schema_url"] == "https://opentelemetry.io/schemas/1.26.0"
    assert log["scope_schema_url"] == "https://opentelemetry.io/schemas/1.21.0"
    assert (log["scope_name"], log["scope_version"], log["scope_attributes"]) == (
        "tests",
        "2.1",
        {"library.kind": "http"},
    )
    assert (log["trace_flags"], log["dropped_attributes_count"]) == (1, 3)

    traces = ExportTraceServiceRequest()
    resource_spans = traces.resource_spans.add()
    resource_spans.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name, scope_spans.schema_url = "db", "https://opentelemetry.io/schemas/1.24.0"
    scope_spans.scope.attributes.append(KeyValue(key="db.kind", value=AnyValue(string_value="sql")))
    span = scope_spans.spans.add()
    span.trace_id, span.span_id, span.name = b"\xab" * 16, b"\x01" * 8, "SELECT"
    span.start_time_unix_nano, span.end_time_unix_nano = now, now + 1000
    span.trace_state, span.flags = "vendor=a:1", 1
    span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count = 1, 2, 3
    link = span.links.add()
    link.trace_id, link.span_id, link.trace_state, link.flags = b"\xcd" * 16, b"\x02" * 8, "other=b", 1
    assert client.post("/v1/traces", content=traces.SerializeToString(), headers=PB).status_code == 200
    (got,) = client.get(f"/api/traces/{'ab' * 16}").json()["spans"]
    assert (got["trace_state"], got["trace_flags"]) == ("vendor=a:1", 1)
    assert (got["scope_name"], got["scope_attributes"]) == ("db", {"db.kind": "sql"})
    assert got["resource_schema_url"] == "https://opentelemetry.io/schemas/1.26.0"
    assert got["scope_schema_url"] == "https://opentelemetry.io/schemas/1.24.0"
    assert (got["dropped_attributes_count"], got["dropped_events_count"], got["dropped_links_count"]) == (1, 2, 3)
    assert got["links"] == [
        {"trace_id": "cd" * 16, "span_id": "02" * 8, "trace_state": "other=b", "flags": 1, "attributes": {}}
    ]
