"""A sharded cluster of three real ClickHouse servers: hlog serve --cluster gives the answers one
server gives, keeps a session on one shard, and says so when a shard is down."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hlog.backend import cluster, schema
from hlog.backend.store import format_statement
from hlog.backend.timeutil import format_ns
from tests.clickhouse import ClickHouseServer, start_cluster
from tests.conftest import Server, auth, kv, logs_request
from tests.receiver import Receiver
from tests.test_end_to_end import hlog
from tests.test_server_store import wait_for

PB = {"Content-Type": "application/x-protobuf"}
NAME = "hlog_test"
SESSIONS = [f"sess-{i}" for i in range(12)]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ClickHouseServer]]:
    started = start_cluster(tmp_path_factory.mktemp("cluster"), NAME, 3)
    yield started
    for node in started:
        node.stop()


def send(server: Server, now_ns: int) -> None:
    """The same traffic for every store: 12 sessions over the last hour, their traces, some errors."""
    records = []
    for i in range(600):
        session = SESSIONS[i % len(SESSIONS)]
        records.append(
            {
                "body": f"request {i} of {session}" + (" failed: card declined" if i % 9 == 0 else ""),
                "level": "ERROR" if i % 9 == 0 else "INFO",
                "number": 17 if i % 9 == 0 else 9,
                "ts": now_ns - (600 - i) * 5 * 10**9,
                "trace_id": f"{i // 4:032x}",
                "span_id": f"{i:016x}",
                "attrs": {"session.id": session, "user.id": f"u{i % 5}", "http.status_code": 200 + i % 3},
            }
        )
    for start in range(0, len(records), 100):
        body = logs_request(records[start : start + 100], {"service.name": f"svc-{start // 200}"})
        answer = httpx.post(f"{server.url}/v1/logs", content=body.SerializeToString(), headers=PB, timeout=30)
        assert answer.status_code == 200, answer.text
    spans = ExportTraceServiceRequest()
    resource = spans.resource_spans.add()
    resource.resource.attributes.append(kv("service.name", "gateway"))
    scope = resource.scope_spans.add()
    for i in range(0, 600, 4):
        span = scope.spans.add()
        span.trace_id, span.span_id = bytes.fromhex(f"{i // 4:032x}"), bytes.fromhex(f"{i:016x}")
        span.name, span.kind = f"GET /step/{i % 7}", 2
        span.start_time_unix_nano = now_ns - (600 - i) * 5 * 10**9
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000_000 * (i % 50 + 1)
        span.attributes.append(kv("session.id", SESSIONS[i % len(SESSIONS)]))
    answer = httpx.post(f"{server.url}/v1/traces", content=spans.SerializeToString(), headers=PB, timeout=30)
    assert answer.status_code == 200, answer.text
    wait_for(lambda: get(server, "/healthz")["ingest"]["pending_records"] == 0, "everything stored")


def get(server: Server, path: str, **params: Any) -> dict[str, Any]:
    answer = httpx.get(server.url + path, params=params, headers=auth(), timeout=60)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def every_page(server: Server, query: str) -> list[str]:
    bodies: list[str] = []
    cursor = None
    while True:
        page = get(server, "/api/logs", q=query, limit=37, **({"cursor": cursor} if cursor else {}))
        bodies += [log["body"] for log in page["logs"]]
        cursor = page["next_cursor"]
        if not cursor:
            return bodies


def answers(server: Server, now_ns: int) -> dict[str, Any]:
    """What a user sees: pages, counts, a histogram, a session, a trace, the keys."""
    window = {"from": format_ns(now_ns - 3 * 3600 * 10**9, 9), "to": format_ns(now_ns + 10**9, 9)}
    return {
        "pages": every_page(server, ""),
        "errors": every_page(server, "level:error user.id:u3"),
        "counts": [get(server, "/api/logs/count", q=q)["count"] for q in ("", "declined", "-level:info", "sess-3")],
        "histogram": get(server, "/api/logs/histogram", q="level:error", buckets=24, **window)["buckets"],
        "session": get(server, "/api/sessions/sess-5"),
        "trace": [(s["span_id"], s["name"]) for s in get(server, f"/api/traces/{7:032x}")["spans"]],
        "keys": sorted(k["key"] for k in get(server, "/api/keys")["keys"]),
    }


def test_a_cluster_answers_as_one_server_does(
    nodes: list[ClickHouseServer], clickhouse: ClickHouseServer, tmp_path: Path, receiver: Receiver
) -> None:
    database = "shop_" + uuid.uuid4().hex[:8]
    on_cluster = nodes[0].dsn(database)
    migrated = hlog("migrate", "--store", on_cluster, "--cluster", NAME)
    assert migrated.returncode == 0, migrated.stderr
    single = clickhouse.dsn(database)
    options = ("--flush-interval", "200ms", "--alert-delay", "0s", "--allow-webhook-network", "127.0.0.1/32")
    sharded = Server(on_cluster, "--cluster", NAME, "--wal-dir", str(tmp_path / "wal-c"), *options).start()
    alone = Server(single, "--wal-dir", str(tmp_path / "wal-s"), *options).start()
    now_ns = time.time_ns()
    try:
        for server in (sharded, alone):
            send(server, now_ns)
        # the rows are spread over the three nodes, and each session is on one of them
        spread = [int(node.command(f"SELECT count() FROM {database}_local.logs")) for node in nodes]
        assert sum(spread) == 600 and sum(1 for n in spread if n) >= 2, spread
        for session in SESSIONS:
            holders = [
                n
                for n in nodes
                if int(n.command(f"SELECT count() FROM {database}_local.logs WHERE SessionId = '{session}'"))
            ]
            assert len(holders) == 1, session

        assert answers(sharded, now_ns) == answers(alone, now_ns)

        rule = {
            "name": "declines",
            "query": "declined",
            "threshold": 10,
            "window_seconds": 7200,
            "frequency_seconds": 1,
        }
        for server, path in ((sharded, "/cluster"), (alone, "/single")):
            body = {**rule, "destinations": [{"kind": "webhook", "url": receiver.url + path}]}
            assert httpx.post(f"{server.url}/api/alerts", json=body, headers=auth(), timeout=30).status_code == 201
        wait_for(lambda: receiver.at("/cluster") and receiver.at("/single"), "both webhooks")
        assert receiver.at("/cluster")[0].json["count"] == receiver.at("/single")[0].json["count"] == 67

        # a node down: a clear partial answer, not a hang or an error
        holder = max(range(3), key=lambda i: spread[i])
        if holder == 0:
            holder = 1 if spread[1] else 2  # not the node hlog talks to
        nodes[holder].kill()
        try:
            partial = hlog("search", "--count", "--store", on_cluster)
            assert partial.returncode == 0, partial.stderr
            assert int(partial.stdout) == 600 - spread[holder]
            assert "warning: a ClickHouse shard does not answer" in partial.stderr
            page = get(sharded, "/api/logs", q="")
            assert "shard does not answer" in page["partial"]
        finally:
            nodes[holder].start()
        whole = get(sharded, "/api/logs/count", q="")
        assert whole["count"] == 600 and "partial" not in whole
    finally:
        sharded.stop()
        alone.stop()


def test_replicated_tables_use_keeper_paths_per_shard_and_replica() -> None:
    """--replicated cannot run here (no Keeper): its statements are checked instead."""
    creates = [
        format_statement(statement, "hlog_local", 86400)
        for migration in schema.MIGRATIONS
        for statement in migration.statements
        if "CREATE TABLE" in statement
    ] + [
        format_statement(schema.MIGRATIONS_TABLE, "hlog_local", 0),
        format_statement(schema.SETTINGS_TABLE, "hlog_local", 0),
    ]
    replicated = [cluster.replicated_statement(s) for s in creates]
    for before, after in zip(creates, replicated, strict=True):
        assert (
            "ENGINE = Replicated" in after and "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'" in after
        )
        assert after.replace("Replicated", "", 1).split("ENGINE")[0] == before.split("ENGINE")[0]
    rules = next(s for s in replicated if "alert_rules" in s)
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)" in rules
    )
    logs = next(s for s in replicated if ".logs (" in s)
    assert "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" in logs
    assert "PARTITION BY toDate(Timestamp)" in logs


def test_a_cluster_the_server_does_not_know_is_a_clear_error(nodes: list[ClickHouseServer]) -> None:
    refused = hlog("migrate", "--store", nodes[0].dsn("nowhere"), "--cluster", "no_such_cluster")
    assert refused.returncode == 1 and "knows no cluster 'no_such_cluster'" in refused.stderr, refused.stderr
    bad = hlog("migrate", "--store", nodes[0].dsn("nowhere"), "--cluster", "x; DROP")
    assert bad.returncode == 1 and "plain identifier" in bad.stderr
