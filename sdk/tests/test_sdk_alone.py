"""hlog-sdk on its own: what an application gets from `pip install hlog-sdk`, nothing of the product.

The collector here is a real HTTP server on 127.0.0.1 that decodes what the OpenTelemetry
exporter sends; each application is a real process (the SDK sets process-wide providers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

APP_SECONDS = 60


class Collector:
    """Keeps every log record and span it receives, as (resource attrs, record attrs, body or name, kind)."""

    def __init__(self) -> None:
        self.logs: list[tuple[dict[str, str], dict[str, str], str]] = []
        self.spans: list[tuple[dict[str, str], dict[str, str], str, int]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                collector.receive(self.path, body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def receive(self, path: str, body: bytes) -> None:
        if path == "/v1/logs":
            logs = ExportLogsServiceRequest.FromString(body)
            for rl in logs.resource_logs:
                resource = _attrs(rl.resource.attributes)
                for sl in rl.scope_logs:
                    self.logs += [(resource, _attrs(r.attributes), _text(r.body)) for r in sl.log_records]
        elif path == "/v1/traces":
            traces = ExportTraceServiceRequest.FromString(body)
            for rs in traces.resource_spans:
                resource = _attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    self.spans += [(resource, _attrs(s.attributes), s.name, s.kind) for s in ss.spans]


def _text(value: AnyValue) -> str:
    return value.string_value if value.HasField("string_value") else str(value)


def _attrs(pairs: object) -> dict[str, str]:
    return {kv.key: _text(kv.value) for kv in pairs}  # type: ignore[attr-defined]


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.shutdown()


def run_app(directory: Path, source: str, collector: Collector) -> str:
    """Run `source` as app.py in `directory` (its own folder first on sys.path, as `python app.py` does)."""
    (directory / "app.py").write_text(textwrap.dedent(source))
    env = {**os.environ, "HLOG_TEST_ENDPOINT": collector.url}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=directory, env=env, capture_output=True, text=True, timeout=APP_SECONDS
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


WSGI_APP = """
    import logging, threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    import backend  # the application's own package, not hlog's
    import hlog_sdk
    import httpx

    log = logging.getLogger("shop")
    handle = hlog_sdk.init(service_name="shop", endpoint=__import__("os").environ["HLOG_TEST_ENDPOINT"],
                           environment="test", service_version="1.2.3")

    def app(environ, start_response):
        log.warning("handling %s for %s", environ["PATH_INFO"], backend.NAME)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, hlog_sdk.WSGIMiddleware(app), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    answer = httpx.get(url + "/cart", headers={"x-hlog-request": "sess-7/req-9"})
    with hlog_sdk.session("sess-background"):
        log.info("background work")
        httpx.get(url + "/follow")  # the SDK passes the session on: a CLIENT span here, a SERVER span there
    log.info("outside any session")
    assert handle.flush(10), "export did not finish"
    print(answer.status_code, backend.NAME, hlog_sdk.__version__)
    handle.shutdown()
    server.shutdown()
"""


def test_an_app_with_its_own_backend_package_sends_sessions(tmp_path: Path, collector: Collector) -> None:
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "__init__.py").write_text('NAME = "the app\'s own backend"\n')
    out = run_app(tmp_path, WSGI_APP, collector).split()
    assert out[0] == "200" and out[-1][0].isdigit()
    by_body = {body: (resource, attrs) for resource, attrs, body in collector.logs}
    resource, attrs = by_body["handling /cart for the app's own backend"]
    assert resource["service.name"] == "shop" and resource["deployment.environment.name"] == "test"
    assert resource["service.version"] == "1.2.3"
    assert attrs["session.id"] == "sess-7" and attrs["hlog.request_id"] == "req-9"
    assert by_body["background work"][1]["session.id"] == "sess-background"
    assert "session.id" not in by_body["outside any session"][1]
    assert by_body["handling /follow for the app's own backend"][1]["session.id"] == "sess-background"
    servers = sorted((s[2], s[1]["session.id"]) for s in collector.spans if s[3] == 2)  # SPAN_KIND_SERVER
    assert servers == [("GET /cart", "sess-7"), ("GET /follow", "sess-background")]
    [client] = [s for s in collector.spans if s[3] == 3]  # SPAN_KIND_CLIENT
    assert client[1]["session.id"] == "sess-background"


def test_the_asgi_middleware_without_a_framework(tmp_path: Path, collector: Collector) -> None:
    """A bare ASGI app (no starlette here): the session header is read and the request's logs carry it."""
    source = """
        import asyncio, logging, os
        import hlog_sdk

        log = logging.getLogger("asgi")
        handle = hlog_sdk.init(service_name="asgi-app", endpoint=os.environ["HLOG_TEST_ENDPOINT"])

        async def app(scope, receive, send):
            log.error("checkout failed in %s", hlog_sdk.current().session_id)
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"no"})

        sent = []
        async def main():
            headers = [(b"x-hlog-request", b"sess-a/req-b")]
            scope = {"type": "http", "method": "POST", "path": "/pay", "headers": headers}
            async def receive():
                return {"type": "http.request", "body": b"", "more_body": False}
            async def send(message):
                sent.append(message)
            await hlog_sdk.ASGIMiddleware(app)(scope, receive, send)

        asyncio.run(main())
        assert handle.flush(10)
        print(sent[0]["status"])
        handle.shutdown()
    """
    assert run_app(tmp_path, source, collector).strip() == "503"
    [(resource, attrs, body)] = collector.logs
    assert body == "checkout failed in sess-a" and attrs["session.id"] == "sess-a"
    [(_, span_attrs, name, kind)] = collector.spans
    assert kind == 2 and span_attrs["session.id"] == "sess-a" and "/pay" in name


def test_a_collector_that_is_down_costs_the_app_nothing(tmp_path: Path) -> None:
    """No collector listening: the app runs, logs and exits; what could not be sent is counted."""
    source = """
        import logging, socket, time
        import hlog_sdk

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nothing listens here once closed
        handle = hlog_sdk.init(service_name="lonely", endpoint=f"http://127.0.0.1:{port}", export_timeout_seconds=2)
        for i in range(50):
            logging.getLogger("lonely").warning("message %d", i)
        handle.flush(5)
        handle.shutdown()
        s = handle.stats
        print(s.exported_logs, s.dropped_logs)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)], capture_output=True, text=True, timeout=APP_SECONDS
    )
    assert done.returncode == 0, done.stderr
    exported, dropped = map(int, done.stdout.split())
    assert exported == 0 and dropped == 50


def test_installed_as_one_package() -> None:
    import hlog_sdk

    assert Path(hlog_sdk.__file__).parent.name == "hlog_sdk"
    assert hlog_sdk.__version__[0].isdigit()
