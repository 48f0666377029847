"""The real OpenTelemetry SDK and the real `hlog` commands against `hlog serve` processes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link

from tests.conftest import Server, api_get, auth, logs_request


def hlog(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hlog.backend.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def search_json(server: Server, query: str, *extra: str) -> list[dict]:
    result = hlog("search", query, "--format", "jsonl", "--backend", server.url, *extra)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_opentelemetry_sdk_logs_and_spans(server: Server) -> None:
    service = "svc-" + uuid.uuid4().hex[:8]
    resource = Resource.create({"service.name": service, "service.version": "2.0", "deployment.environment": "ci"})
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=server.url + "/v1/logs")))
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=server.url + "/v1/traces")))
    log = logging.getLogger(service)
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=logger_provider))
    tracer = tracer_provider.get_tracer("tests")
    with tracer.start_as_current_span("enqueue") as earlier:
        linked = earlier.get_span_context()
    with tracer.start_as_current_span(
        "POST /checkout", attributes={"session.id": "sess-otel"}, links=[Link(linked, {"link.kind": "queue"})]
    ) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        span.record_exception(ValueError("card declined"))
        for i in range(50):
            log.info("step %d done", i, extra={"session.id": "sess-otel", "step": i})
        log.error("card declined", extra={"session.id": "sess-otel", "order.total": 12.5})
    log.warning("outside any span")
    assert logger_provider.force_flush(10_000) and tracer_provider.force_flush(10_000)
    logger_provider.shutdown()
    tracer_provider.shutdown()

    logs = search_json(server, f"service_name:{service}", "--limit", "1000")
    assert len(logs) == 52
    error = next(x for x in logs if x["level"] == "ERROR")
    assert error["body"] == "card declined"
    assert error["session_id"] == "sess-otel" and error["trace_id"] == trace_id
    assert error["attributes"]["order.total"] == 12.5
    assert (error["service_version"], error["environment"], error["severity_number"]) == ("2.0", "ci", 17)
    steps = sorted(x["attributes"]["step"] for x in logs if "step" in x["attributes"])
    assert steps == list(range(50))
    assert next(x for x in logs if x["body"] == "outside any span")["trace_id"] == ""
    found = search_json(server, f'service_name:{service} step>=48 session_id:sess-otel "done"')
    assert sorted(x["body"] for x in found) == ["step 48 done", "step 49 done"]
    (span,) = api_get(server.url, f"/api/traces/{trace_id}")["spans"]
    assert (span["name"], span["kind"], span["service_name"]) == ("POST /checkout", "SPAN_KIND_INTERNAL", service)
    assert span["session_id"] == "sess-otel" and span["duration_ns"] > 0 and span["parent_span_id"] == ""
    assert span["resource_attributes"]["service.version"] == "2.0"
    (event,) = span["events"]  # the recorded exception
    assert event["name"] == "exception" and event["timestamp_ns"] >= span["timestamp_ns"]
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "card declined"
    (link,) = span["links"]
    assert link == {
        "trace_id": format(linked.trace_id, "032x"),
        "span_id": format(linked.span_id, "016x"),
        "trace_state": "",
        "flags": link["flags"],  # the SDK's W3C flags and is-remote bits, kept as sent
        "attributes": {"link.kind": "queue"},
    }


def test_restart_keeps_acknowledged_logs(fresh_store: str) -> None:
    first = Server(fresh_store).start()
    body_marker = uuid.uuid4().hex
    lines = "".join(json.dumps({"msg": f"{body_marker} line {i}", "level": "info"}) + "\n" for i in range(2500))
    result = hlog("ingest", "-", "--backend", first.url, "--service", "restart", stdin=lines)
    assert result.returncode == 0, result.stderr
    assert first.stop() == 0
    second = Server(fresh_store).start()
    try:
        count = hlog("search", body_marker, "--count", "--backend", second.url)
        assert count.stdout.strip() == "2500", count.stderr
    finally:
        second.stop()


def test_cli_remote_and_local_give_the_same_results(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    log_file = tmp_path / "app.log"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    plain = time.strftime("%Y-%m-%d %H:%M:%S,123", time.gmtime(time.time() - 30))
    json_line = json.dumps(
        {"ts": iso, "level": "warning", "msg": "disk almost full", "service": "db", "disk": {"pct": 91}}
    )
    log_file.write_text(f"{json_line}\n{plain} ERROR [worker] job 7 failed\nplain line without time\n")
    local = hlog("ingest", str(log_file), "--store", f"chdb://{store_dir}")
    assert local.returncode == 0, local.stderr
    assert "ingested 3 logs" in local.stderr
    args = ("search", "disk.pct>90 OR job OR level:info", "--format", "jsonl")
    from_store = hlog(*args, "--store", f"chdb://{store_dir}")
    assert from_store.returncode == 0, from_store.stderr
    server = Server(store_dir).start()
    try:
        from_api = hlog(*args, "--backend", server.url)
        # the store is held by the server now; the CLI says so instead of failing obscurely
        locked = hlog(*args, "--store", f"chdb://{store_dir}")
        assert locked.returncode == 1 and "in use by another process" in locked.stderr
        env_default = hlog(*args[:2], "--count", env={"HLOG_BACKEND": server.url})
        assert env_default.stdout.strip() == "2"
    finally:
        server.stop()
    assert from_api.stdout == from_store.stdout
    logs = [json.loads(line) for line in from_api.stdout.splitlines()]
    assert [x["body"] for x in logs][0].endswith("ERROR [worker] job 7 failed")
    assert logs[1]["service_name"] == "db" and logs[1]["level"] == "WARN"
    assert logs[1]["attributes"] == {"disk": {"pct": 91}}  # as the line had it, typed
    assert logs[0]["service_name"] == "app" and logs[0]["level"] == "ERROR"


def test_cli_formats_errors_and_sql(server: Server) -> None:
    marker = "fmt" + uuid.uuid4().hex[:8]
    payload = json.dumps({"msg": f'{marker} \x1b[2J evil, "quoted"', "level": "error", "service": "fmt"}) + "\n"
    assert hlog("ingest", "-", "--backend", server.url, stdin=payload).returncode == 0
    table = hlog("search", marker, "--backend", server.url)
    assert "\x1b" not in table.stdout and "\\x1b[2J evil" in table.stdout and "ERROR" in table.stdout
    csv_out = hlog("search", marker, "--format", "csv", "--backend", server.url).stdout.splitlines()
    assert csv_out[0] == "timestamp,level,service_name,environment,session_id,trace_id,span_id,body"
    assert csv_out[1].endswith('"' + marker + ' \x1b[2J evil, ""quoted"""')  # data kept as is when piped
    bad = hlog("search", "level:error AND", "--backend", server.url)
    assert bad.returncode == 2 and "dangling operator" in bad.stderr and "^" in bad.stderr
    sql = hlog("search", "service:checkout", "--sql")
    assert sql.returncode == 0 and "ServiceName = {p0:String}" in sql.stdout and '"p0": "checkout"' in sql.stdout
    assert hlog("search", "x", "--since", "soon").returncode == 2
    gone = hlog("search", "x", "--backend", "http://127.0.0.1:9")
    assert gone.returncode == 1 and "no hlog backend answers" in gone.stderr


def test_follow_prints_new_matches(server: Server) -> None:
    marker = "follow" + uuid.uuid4().hex[:8]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hlog.backend.cli",
            "search",
            marker,
            "--follow",
            "--format",
            "jsonl",
            "--backend",
            server.url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        # two logs that arrive together (between two polls), then one more
        for batch in ((0, 1), (2,)):
            lines = "".join(json.dumps({"msg": f"{marker} {i}", "level": "info"}) + "\n" for i in batch)
            assert hlog("ingest", "-", "--backend", server.url, stdin=lines).returncode == 0
        assert proc.stdout is not None
        got = [json.loads(proc.stdout.readline())["body"] for _ in range(3)]
        assert got == [f"{marker} 0", f"{marker} 1", f"{marker} 2"]
    finally:
        proc.kill()
        proc.wait()


def test_serve_explains_a_write_ahead_log_it_cannot_open(tmp_path: Path) -> None:
    (tmp_path / "hlog-wal").write_text("not a directory")
    result = hlog("serve", "--listen", "127.0.0.1:0", "--store", f"chdb://{tmp_path}")
    assert result.returncode == 1
    assert "cannot open the write-ahead log" in result.stderr and "Traceback" not in result.stderr


def test_serve_off_loopback_takes_ingest_only_with_the_token(tmp_path: Path) -> None:
    server = Server(tmp_path / "public", "--listen", "0.0.0.0:0").start()
    try:
        url = server.url.replace("0.0.0.0", "127.0.0.1")
        body = logs_request([{"body": "from another machine"}]).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        assert httpx.post(url + "/v1/logs", content=body, headers=headers).status_code == 401
        assert httpx.post(url + "/v1/logs", content=body, headers={**headers, **auth()}).status_code == 200
        assert api_get(url, "/api/logs/count", q='"another machine"')["count"] == 1
    finally:
        server.stop()
    result = hlog("serve", "--flush-interval", "0s", "--store", f"chdb://{tmp_path}")
    assert result.returncode == 2 and "--flush-interval must be more than 0s" in result.stderr


def test_healthz_reports_ingest_counters(server: Server) -> None:
    health = httpx.get(server.url + "/healthz").json()
    assert health["service"] == "hlog" and health["ingest"]["failed_commits"] == 0


def test_stalled_connections_stop_no_other_client(tmp_path: Path) -> None:
    """Connections that never finish their request (slowloris) are closed: past the connection cap
    the oldest one waiting for its headers makes room, and each times out on its own."""
    import socket

    server = Server(tmp_path / "store", "--max-connections", "100").start()
    port = int(server.url.rsplit(":", 1)[1])
    stalled = []
    try:
        for _ in range(400):  # four times the cap
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")  # and nothing more
            stalled.append(s)
        marker = "after-the-stall-" + uuid.uuid4().hex[:6]
        body = logs_request([{"body": marker}]).SerializeToString()
        sent = httpx.post(server.url + "/v1/logs", content=body, headers={"Content-Type": "application/x-protobuf"})
        assert sent.status_code == 200, sent.text
        assert api_get(server.url, "/api/logs/count", q=marker)["count"] == 1
        # the ones evicted to make room were closed by the server (a read sees the end of the stream)
        closed = 0
        for s in stalled[:200]:
            s.settimeout(15)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
        assert closed == 200
        # and one that was never evicted is closed when its time to send the headers is up
        stalled[-1].settimeout(60)
        assert stalled[-1].recv(1) == b""
    finally:
        for s in stalled:
            s.close()
        server.stop()
