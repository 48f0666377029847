"""What only a ClickHouse server store has: users with fewer rights, and outages."""

from __future__ import annotations

import re
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
from tests.receiver import Receiver
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
    # (refused, or reset for a request under way when it died)
    assert len(re.findall(r"is unreachable \([a-z ]+\); retrying", said)) == 1, said
    assert said.count(" is back") == 1, said
    assert "Traceback" not in said and secret not in said


def test_a_closed_store_refuses_to_work(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.query("SELECT 1", reads_ingest=False)


def test_replicas_share_a_store_and_one_evaluates_the_rules(
    clickhouse: ClickHouseServer, tmp_path: Path, receiver: Receiver
) -> None:
    """Three `hlog serve` on one database, each with its own write-ahead log: OTLP sent to all of
    them is found once through any of them; exactly one evaluates the alert rules; killed with
    -9, another takes over within two lease periods, and no rule fires twice."""
    dsn = clickhouse.dsn("replicas_" + uuid.uuid4().hex[:8])
    assert hlog("migrate", "--store", dsn).returncode == 0
    lease = 8.0  # seconds: long enough that a busy machine cannot make a tick miss a renewal
    options = ("--flush-interval", "200ms", "--alert-delay", "0s", "--alert-lease", f"{lease:g}s")
    options += ("--allow-webhook-network", "127.0.0.1/32", "--log-level", "info")
    replicas = [Server(dsn, "--wal-dir", str(tmp_path / f"wal{i}"), *options).start() for i in range(3)]
    try:
        marker = uuid.uuid4().hex
        for n, replica in enumerate(replicas * 2):
            records = [{"body": f"{marker} {n}.{i}"} for i in range(100)]
            body = logs_request(records).SerializeToString()
            assert httpx.post(f"{replica.url}/v1/logs", content=body, headers=PB, timeout=30).status_code == 200
        for replica in replicas:  # each sees its own unflushed rows and everything stored
            wait_for(lambda r=replica: api_count(r, f'"{marker}"') == 600, f"600 logs through {replica.url}")

        def leaders() -> list[Server]:
            alive = [r for r in replicas if r.proc is not None and r.proc.poll() is None]
            return [r for r in alive if health(r)["alerts"]["evaluates"]]

        [leader] = wait_for(lambda: len(found := leaders()) == 1 and found, "one leader")
        rule = {
            "name": "payments down",
            "query": '"payment gateway down"',
            "threshold": 1,
            "window_seconds": 600,
            "frequency_seconds": 1,
            "cooldown_seconds": 3600,
            "destinations": [{"kind": "webhook", "url": receiver.url + "/before"}],
        }
        created = httpx.post(f"{replicas[0].url}/api/alerts", json=rule, headers=auth(), timeout=30)
        assert created.status_code == 201
        send_error(replicas[1], "payment gateway down")
        wait_for(lambda: receiver.at("/before"), "the webhook")

        def fired_kept() -> bool:  # the leader keeps the alert's state once it has sent it
            url = f"{replicas[0].url}/api/alerts/{created.json()['id']}"
            return bool(httpx.get(url, headers=auth(), timeout=30).json()["last_fired_ms"])

        # (killed between the two, a leader leaves the alert to be sent again: at least once, never lost)
        wait_for(fired_kept, "the alert's state kept in the store")

        assert leader.proc is not None
        leader.proc.kill()  # kill -9: no release, the lease must run out
        killed = time.monotonic()
        leader.proc.wait()
        [successor] = wait_for(lambda: len(found := leaders()) == 1 and found, "another leader", timeout=120)
        took = time.monotonic() - killed
        assert successor is not leader
        assert took < 2 * lease, f"took over after {took:.1f} s"  # the bound: two lease periods

        after = {**rule, "name": "after", "query": '"stock sync failed"'}
        after["destinations"] = [{"kind": "webhook", "url": receiver.url + "/after"}]
        survivor = next(r for r in replicas if r is not leader)
        assert httpx.post(f"{survivor.url}/api/alerts", json=after, headers=auth(), timeout=30).status_code == 201
        send_error(survivor, "stock sync failed")
        wait_for(lambda: receiver.at("/after"), "the webhook of a rule fired by the new leader")
        wait_for(lambda: health(successor)["alerts"]["evaluations"] >= 5, "a few rounds by the new leader")
        assert len(receiver.at("/before")) == 1  # not fired again by the new leader
        assert len(receiver.at("/after")) == 1
        assert len(leaders()) == 1
    finally:
        for replica in replicas:
            if replica.proc is not None and replica.proc.poll() is None:
                replica.stop()


def api_count(server: Server, query: str) -> int:
    answer = httpx.get(f"{server.url}/api/logs/count", params={"q": query}, headers=auth(), timeout=30)
    return int(answer.json()["count"]) if answer.status_code == 200 else -1


def health(server: Server) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/healthz", timeout=30).json())


def send_error(server: Server, text: str) -> None:
    body = logs_request([{"body": text, "level": "ERROR", "number": 17}]).SerializeToString()
    assert httpx.post(f"{server.url}/v1/logs", content=body, headers=PB, timeout=30).status_code == 200
