"""What only a ClickHouse server store has: users with fewer rights, and outages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hlog.backend.store import Store, StoreError
from hlog.tui.link import connect as tui_connect
from tests.clickhouse import READER_PASSWORD, READER_USER, ClickHouseServer
from tests.conftest import Server, auth, logs_request
from tests.test_end_to_end import hlog

PB = {"Content-Type": "application/x-protobuf"}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def tables(server: ClickHouseServer, database: str) -> list[str]:
    return server.command(f"SELECT name FROM system.tables WHERE database = '{database}' ORDER BY name").split()


def test_searching_needs_only_select(clickhouse: ClickHouseServer) -> None:
    """hlog search, hlog alerts list and hlog-tui's in-process link read a store as a user that may
    only SELECT; they never create or change the schema, and say what to do when it is missing or old."""
    database = "ro_" + uuid.uuid4().hex[:10]
    admin = clickhouse.dsn(database)
    reader = clickhouse.dsn(database, READER_USER, READER_PASSWORD)

    missing = hlog("search", "anything", "--store", reader)
    assert missing.returncode == 1, missing.stderr
    assert "has no hlog schema" in missing.stderr and "hlog migrate" in missing.stderr
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    assert database not in clickhouse.command("SHOW DATABASES").split()

    refused = hlog("migrate", "--store", reader)
    assert refused.returncode == 1 and "not allowed" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    migrated = hlog("migrate", "--store", admin)
    assert migrated.returncode == 0 and "schema version" in migrated.stdout, migrated.stderr
    lines = '{"msg": "disk full on db-7", "level": "error"}\n{"msg": "all good", "level": "info"}\n'
    assert hlog("ingest", "-", "--store", admin, "--service", "db", stdin=lines).returncode == 0
    schema = tables(clickhouse, database)

    found = hlog("search", "level:error", "--store", reader, "--format", "jsonl")
    assert found.returncode == 0, found.stderr
    assert "disk full on db-7" in found.stdout and "all good" not in found.stdout
    count = hlog("search", "--count", "--store", reader)
    assert count.stdout.strip() == "2", count.stderr
    rules = hlog("alerts", "list", "--store", reader)
    assert rules.returncode == 0, rules.stderr

    async def through_the_tui_link() -> list[str]:
        link = await tui_connect(None, reader)
        try:
            page = await link.api.logs(q="disk", after="0-0")
            return [log["body"] for log in page["logs"]]
        finally:
            await link.close()

    import asyncio

    assert asyncio.run(through_the_tui_link()) == ["disk full on db-7"]
    assert tables(clickhouse, database) == schema  # nothing was created, not even staging tables

    # a schema older than this hlog: say so, and what to run
    clickhouse.command(f"ALTER TABLE {database}.hlog_migrations DELETE WHERE version >= 7 SETTINGS mutations_sync = 1")
    old = hlog("search", "anything", "--store", reader)
    assert old.returncode == 1 and "older than this hlog" in old.stderr and "hlog migrate" in old.stderr
    assert hlog("migrate", "--store", admin).returncode == 0
    assert hlog("search", "--count", "--store", reader).stdout.strip() == "2"


def test_a_store_outage_reads_as_one_line_and_ingest_recovers(tmp_path: Path) -> None:
    """The ClickHouse server dies under a running backend: searches fail with one clear line that
    holds no query text, ingest keeps acknowledging into its log, /healthz says degraded, the
    backend says once that the store is down and once that it is back, and nothing is lost."""
    clickhouse = ClickHouseServer(tmp_path / "clickhouse").start()
    dsn = clickhouse.dsn("outage")
    server = Server(dsn, "--flush-interval", "200ms", "--log-level", "info").start()
    try:
        marker = uuid.uuid4().hex
        secret = "needle-" + uuid.uuid4().hex[:8]

        def send(n: int) -> None:
            body = logs_request([{"body": f"{marker} {n}.{i}"} for i in range(100)]).SerializeToString()
            assert httpx.post(f"{server.url}/v1/logs", content=body, headers=PB, timeout=30).status_code == 200

        def health() -> dict[str, Any]:
            return dict(httpx.get(f"{server.url}/healthz", timeout=30).json())

        send(0)
        wait_for(lambda: health()["ingest"]["pending_records"] == 0, "the first logs to be stored")
        clickhouse.kill()

        send(1)  # acknowledged: it is in the write-ahead log
        degraded = wait_for(lambda: (h := health())["status"] == "degraded" and h, "/healthz to say degraded")
        assert "unreachable" in degraded["reason"] and "connection refused" in degraded["reason"]
        wait_for(lambda: health()["ingest"]["failed_commits"] >= 5, "several retries")

        for where in (("--backend", server.url), ("--store", dsn)):
            failed = hlog("search", secret, *where)
            assert failed.returncode == 1, failed.stderr
            lines = failed.stderr.strip().splitlines()
            assert len(lines) == 1, failed.stderr
            line = lines[0]
            assert "unreachable (connection refused)" in line, line
            assert secret not in line and "?" not in line and "param_" not in line, line
        answer = httpx.get(f"{server.url}/api/logs", params={"q": secret}, headers=auth(), timeout=30)
        assert answer.status_code == 503 and secret not in answer.text
        assert "unreachable" in answer.json()["error"]["message"]

        clickhouse.start()  # the same ports and data
        wait_for(lambda: health()["status"] == "ok", "/healthz to say ok again")
        send(2)
        wait_for(lambda: health()["ingest"]["pending_records"] == 0, "everything to be stored")
        count = hlog("search", f'"{marker}"', "--count", "--store", dsn)
        assert count.stdout.strip() == "300", count.stderr
    finally:
        server.stop()
        clickhouse.stop()
    said = "".join(server.log)
    assert said.count("is unreachable (connection refused); retrying") == 1, said
    assert said.count(" is back") == 1, said
    assert "Traceback" not in said and secret not in said


def test_a_closed_store_refuses_to_work(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.query("SELECT 1", reads_ingest=False)
