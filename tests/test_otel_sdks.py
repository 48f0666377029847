"""Round trips through SDKs nobody here wrote: the Node.js OpenTelemetry SDK with its JSON and
protobuf exporters (from npm), the Python SDK with its protobuf and JSON exporters. Every field
of a log record comes back from the API as it was sent, types included."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter as JsonLogExporter
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as ProtoLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtoSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import set_span_in_context

from tests.conftest import Server, api_get

NODE = Path(__file__).parent / "node"
# what tests/node/roundtrip.mjs sends (JavaScript numbers with no fraction are OTLP ints)
NODE_ATTRIBUTES = {
    "s": "text",
    "i": 42,
    "d": 2.5,
    "yes": True,
    "raw": "AAH+/w==",  # new Uint8Array([0, 1, 254, 255]), as base64
    "tags": ["prod", "eu"],
    "numbers": [1, 2, 3],
    "empty_list": [],
    "empty_map": {},
    "http": {"request": {"method": "GET", "size": 512}, "route": "/cart/{id}"},
    "http.route": "/flat/dotted",
}
TYPES = {
    "i": "int",
    "d": "double",
    "yes": "bool",
    "raw": "bytes",
    "tags": "array",
    "numbers": "array",
    "empty_list": "array",
    "empty_map": "map",
    "http": "map",
}
OBSERVED_NS = 1_767_323_045_678_000_000  # 2026-01-02T03:04:05.678Z


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """tests/node with the npm packages of its package.json installed (npm install, in the test run)."""
    npm = shutil.which("npm")
    assert npm and shutil.which("node"), "Node.js and npm are needed for the Node.js SDK round trip"
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"npm install failed:\n{result.stdout}\n{result.stderr}"
    return NODE


def until(fetch: Callable[[], list[dict[str, Any]]], count: int) -> list[dict[str, Any]]:
    """What `fetch` answers once it holds `count` items (polled, up to a minute), asserted exact."""
    deadline = time.monotonic() + 60
    while True:
        found = fetch()
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, found
            return found
        time.sleep(0.1)  # the poll interval of a wait with a deadline


def logs_of_run(server: Server, run: str, service: str, count: int) -> list[dict[str, Any]]:
    """The logs of one run, whole, once `count` of them are searchable (newest first)."""
    query = f"hlog.run:{run} service_name:{service}"
    return until(lambda: list(api_get(server.url, "/api/logs", q=query, limit=100, whole=1)["logs"]), count)


def check_typed_log(log: dict[str, Any], attributes: dict[str, Any], scope_types: dict[str, str]) -> None:
    assert log["attributes"] == attributes
    assert log["attribute_types"]["attributes"] == TYPES
    assert log["attribute_types"]["scope_attributes"] == scope_types
    assert log["attribute_types"]["resource_attributes"] == {"process.pid": "int"}
    assert log["resource_attributes"]["process.pid"] == 4242
    assert (log["severity_text"], log["severity_number"], log["level"]) == ("Information", 10, "INFO")
    assert log["event_name"] == "cart.checkout"
    assert log["observed_timestamp_ns"] == OBSERVED_NS
    assert log["resource_schema_url"] == "https://opentelemetry.io/schemas/1.30.0"
    assert log["scope_schema_url"] == "https://opentelemetry.io/schemas/1.29.0"
    assert (log["scope_name"], log["scope_version"]) == ("roundtrip", "1.2.3")


@pytest.mark.parametrize("encoding", ["json", "proto"])
def test_nodejs_sdk_round_trip(server: Server, node_sdk: Path, encoding: str) -> None:
    run = uuid.uuid4().hex[:12]
    result = subprocess.run(
        ["node", "roundtrip.mjs", server.url, encoding, run, ""],
        cwd=node_sdk,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    trace_id = json.loads(result.stdout.splitlines()[-1])["trace_id"]
    service = f"node-{encoding}"
    structured, typed = logs_of_run(server, run, service, 2)
    check_typed_log(typed, NODE_ATTRIBUTES, {"scope.flag": "bool", "scope.n": "int"})
    assert typed["scope_attributes"] == {"scope.flag": True, "scope.n": 7}
    assert typed["trace_id"] == trace_id and len(typed["span_id"]) == 16
    assert structured["body"] == json.dumps(
        {"order": {"id": 7, "items": ["a", "b"]}, "run": run, "ok": True}, separators=(",", ":")
    )
    # the search finds what the SDK sent by path, element and number
    for query in ("http.request.method:GET", "tags:eu", "numbers:2", "i>41", "d<3", "yes:true", "raw:AAH*"):
        found = api_get(server.url, "/api/logs", q=f"hlog.run:{run} service_name:{service} {query}")["logs"]
        assert [log["body"] for log in found] == [f"typed {run}"], query
    (span,) = wait_for_spans(server, trace_id, 1)
    sent = {"s": "text", "i": 42, "d": 2.5, "yes": True, "tags": ["prod", "eu"], "numbers": [1, 2, 3]}
    assert span["attributes"] == sent
    assert span["resource_schema_url"] == "https://opentelemetry.io/schemas/1.30.0"
    (link,) = span["links"]
    assert (link["trace_id"], link["span_id"]) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    assert link["flags"] & 1 == 1


def wait_for_spans(server: Server, trace_id: str, count: int) -> list[dict[str, Any]]:
    return until(lambda: list(api_get(server.url, f"/api/traces/{trace_id}")["spans"]), count)


# the same from Python, which has bytes of its own and integers past 2^53
PYTHON_ATTRIBUTES: dict[str, Any] = {**NODE_ATTRIBUTES, "i": 9007199254740993, "raw": b"\x00\x01\xfe\xff"}


@pytest.mark.parametrize("encoding", ["json", "proto"])
def test_python_sdk_round_trip(server: Server, encoding: str) -> None:
    run = uuid.uuid4().hex[:12]
    service = f"python-{encoding}"
    resource = Resource.create(
        {"service.name": service, "process.pid": 4242, "hlog.run": run},
        schema_url="https://opentelemetry.io/schemas/1.30.0",
    )
    log_exporter = (JsonLogExporter if encoding == "json" else ProtoLogExporter)(endpoint=server.url + "/v1/logs")
    span_exporter = (JsonSpanExporter if encoding == "json" else ProtoSpanExporter)(endpoint=server.url + "/v1/traces")
    loggers = LoggerProvider(resource=resource)
    loggers.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    tracers = TracerProvider(resource=resource)
    tracers.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger = loggers.get_logger(
        "roundtrip", "1.2.3", "https://opentelemetry.io/schemas/1.29.0", {"scope.flag": True, "scope.n": 7}
    )
    with tracers.get_tracer("roundtrip").start_as_current_span("checkout", attributes={"i": 5, "d": 0.5}) as span:
        logger.emit(
            severity_text="Information",
            severity_number=SeverityNumber.INFO2,
            body=f"typed {run}",
            event_name="cart.checkout",
            timestamp=time.time_ns(),  # else the observed time counts, older than the retention
            observed_timestamp=OBSERVED_NS,
            attributes=PYTHON_ATTRIBUTES,
            context=set_span_in_context(span),
        )
        body = {"order": {"id": 7}, "ok": True, "ratio": 1.0}
        logger.emit(severity_text="WARN", severity_number=SeverityNumber.WARN, body=body)
    loggers.shutdown()
    tracers.shutdown()
    trace_id = format(span.get_span_context().trace_id, "032x")
    structured, typed = logs_of_run(server, run, service, 2)
    check_typed_log(typed, dict(PYTHON_ATTRIBUTES, raw="AAH+/w=="), {"scope.flag": "bool", "scope.n": "int"})
    assert typed["trace_id"] == trace_id
    assert json.loads(structured["body"]) == {"order": {"id": 7}, "ok": True, "ratio": 1.0}
    (stored,) = wait_for_spans(server, trace_id, 1)
    assert stored["attributes"] == {"i": 5, "d": 0.5}
    assert stored["attribute_types"]["attributes"] == {"i": "int", "d": "double"}
