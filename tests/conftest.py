"""Shared fixtures: a real embedded ClickHouse (chDB) store, the backend in-process and as a process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from starlette.testclient import TestClient

from hlog.backend.access import read_token
from hlog.backend.app import Backend
from hlog.backend.store import Store, parse_dsn
from tests.clickhouse import ClickHouseServer
from tests.receiver import Receiver, start_receiver

# chDB allows one engine per process, bound to one path: every in-process test shares
# this directory and gets a database of its own.
_ENGINE_DIR = Path(os.environ.get("HLOG_TEST_ENGINE_DIR", "")) if os.environ.get("HLOG_TEST_ENGINE_DIR") else None


def pytest_configure(config: pytest.Config) -> None:
    """Tests never touch the user's data: the token file and default store live in a temporary
    directory, shared with the processes the tests start."""
    if "HLOG_TEST_DATA_HOME" not in os.environ:
        os.environ["HLOG_TEST_DATA_HOME"] = tempfile.mkdtemp(prefix="hlog-test-data-")
    os.environ["XDG_DATA_HOME"] = os.environ["HLOG_TEST_DATA_HOME"]


def auth() -> dict[str, str]:
    """The Authorization header of the user's API token (what `hlog serve` made), for raw requests."""
    return {"Authorization": f"Bearer {read_token()}"}


def api_get(url: str, path: str, **params: Any) -> Any:
    """GET a running backend's API with the user's token; the JSON answer."""
    response = httpx.get(url + path, params=params, headers=auth(), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def api_client(backend: Backend) -> TestClient:
    """A TestClient of `backend`'s app that carries its API token, as `hlog` and hlog-tui do."""
    return TestClient(backend.app, base_url="http://localhost", headers={"Authorization": f"Bearer {backend.token}"})


@pytest.fixture(scope="session")
def engine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _ENGINE_DIR or tmp_path_factory.mktemp("chdb-engine")


@pytest.fixture(scope="session")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """A real ClickHouse server for this test session (one per xdist worker). If it cannot start,
    every test that needs it fails with the server's reason."""
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse-server")).start()
    yield server
    server.stop()


STORE_KINDS = ("chdb", "server")


def store_dsn(request: pytest.FixtureRequest, kind: str, database: str) -> str:
    """A DSN of a fresh database on the embedded engine or on the test session's ClickHouse server."""
    if kind == "chdb":
        return f"chdb://{request.getfixturevalue('engine_dir')}?database={database}"
    return request.getfixturevalue("clickhouse").dsn(database)


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each test that touches the store runs against embedded chDB and against a ClickHouse server."""
    return str(request.param)


def drop_database(dsn: str) -> None:
    """Drop a test's database at its end. The embedded engine runs in the test process, and its
    background work grows with the tables it holds: a worker that kept every test's tables spent
    10 % of a core on them, and Textual's pilot, which waits for the process to go idle after each
    key, then waited its full second per key (a TUI test took 20x as long late in a run)."""
    target = parse_dsn(dsn)
    url = f"chdb://{target.location}" if target.kind == "chdb" else target.location
    client = clickhouse_connect.get_client(dsn=url)
    try:
        client.command(f"DROP DATABASE IF EXISTS `{target.database}` SYNC")
    finally:
        client.close()


@pytest.fixture
def store(request: pytest.FixtureRequest, store_kind: str) -> Iterator[Store]:
    s = Store(store_dsn(request, store_kind, "t_" + uuid.uuid4().hex[:12]))
    yield s
    s.close()
    drop_database(s.dsn)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records the webhooks it receives."""
    yield from start_receiver()


@pytest.fixture
def backend(store: Store) -> Backend:
    return Backend(store)


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    with api_client(backend) as c:
        yield c


def any_value(value: Any) -> AnyValue:
    """An OTLP AnyValue from Python data: lists are arrays, dicts are maps, None is empty."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[kv(k, v) for k, v in value.items()]))
    return AnyValue(string_value=str(value))


def kv(key: str, value: Any) -> KeyValue:
    """An OTLP KeyValue from Python data (see any_value)."""
    return KeyValue(key=key, value=any_value(value))


def logs_request(records: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> ExportLogsServiceRequest:
    """An OTLP logs request: each record is a dict of body, level, number, attrs, ts, trace_id, span_id."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    for key, value in (resource or {"service.name": "test"}).items():
        rl.resource.attributes.append(kv(key, value))
    scope = rl.scope_logs.add()
    scope.scope.name = "tests"
    now = time.time_ns()
    for i, rec in enumerate(records):
        lr = scope.log_records.add()
        lr.time_unix_nano = rec.get("ts", now - (len(records) - i) * 1000)
        lr.severity_text = rec.get("level", "")
        lr.severity_number = rec.get("number", 0)
        lr.body.CopyFrom(any_value(rec.get("body", "")))
        lr.trace_id = bytes.fromhex(rec.get("trace_id", ""))
        lr.span_id = bytes.fromhex(rec.get("span_id", ""))
        for key, value in rec.get("attrs", {}).items():
            lr.attributes.append(kv(key, value))
    return request


def post_logs(client: TestClient, records: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> Any:
    """POST records to /v1/logs as protobuf and assert they were accepted."""
    body = logs_request(records, resource).SerializeToString()
    response = client.post("/v1/logs", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 200, response.text
    return response


def page_bodies(client: TestClient, limit: int, **params: str) -> list[str]:
    """The bodies of every log GET /api/logs returns, page after page by its cursor."""
    bodies: list[str] = []
    cursor = None
    while True:
        query = {"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/logs", params=query).json()
        bodies += [log["body"] for log in page["logs"]]
        cursor = page["next_cursor"]
        if not cursor:
            return bodies


class Server:
    """`hlog serve` in a child process on an ephemeral port, on a store DSN (a directory: an
    embedded store there)."""

    def __init__(self, store: Path | str, *extra: str) -> None:
        self.store = store if isinstance(store, str) else f"chdb://{store}"
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log: list[str] = []  # what it wrote to stderr

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def start(self) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "hlog.backend.cli",
            "serve",
            "--store",
            self.store,
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warning",
            *self.extra,
        ]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                # keep draining stderr (kept in `log`) so a chatty server never blocks on a full pipe
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise RuntimeError(f"hlog serve did not start: {self.proc.poll()}")

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def fresh_store(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path) -> str:
    """The DSN of a new, empty store of this test's kind, for processes (hlog serve) to open."""
    if store_kind == "chdb":
        return f"chdb://{tmp_path / 'store'}"
    return store_dsn(request, store_kind, "p_" + uuid.uuid4().hex[:12])


@pytest.fixture(scope="module", params=STORE_KINDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`hlog serve` shared by a module's tests, on each kind of store in turn."""
    if request.param == "chdb":
        dsn = f"chdb://{tmp_path_factory.mktemp('served-store')}"
    else:
        dsn = store_dsn(request, request.param, "s_" + uuid.uuid4().hex[:12])
    srv = Server(dsn).start()
    yield srv
    srv.stop()
