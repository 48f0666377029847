"""--source otel: the Collector's ClickHouse tables, made with the exporter's own DDL (both
shapes), read as they are. Every search operator, paging, histogram, session, trace, keys and an
alert rule work, and nothing is created or changed in the Collector's database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from hlog.alerts.evaluator import Evaluator
from hlog.alerts.netpolicy import WebhookPolicy
from hlog.alerts.notify import Notifier
from hlog.alerts.rules import Destination, Rule, validate
from hlog.alerts.storage import RuleStore
from hlog.backend.app import Backend
from hlog.backend.store import Store, StoreError
from tests import otel_tables
from tests.conftest import api_client, drop_database, page_bodies, store_dsn
from tests.receiver import Receiver


class Collector:
    """A database holding the Collector's tables, on the embedded engine or the test server."""

    def __init__(self, request: pytest.FixtureRequest, kind: str, shape: str) -> None:
        self.db = "otel_" + uuid.uuid4().hex[:10]
        self.state = "hlog_" + uuid.uuid4().hex[:10]
        self.dsn = store_dsn(request, kind, self.db)
        # statements run by an hlog store on a database of its own, beside the Collector's
        self.helper = Store(store_dsn(request, kind, "scratch_" + uuid.uuid4().hex[:10]))
        otel_tables.create(self.helper.command, self.db, shape)
        self.now = otel_tables.fill(self.helper.command, self.db)

    def source_dsn(self) -> str:
        sep = "&" if "?" in self.dsn else "?"
        return f"{self.dsn}{sep}source=otel&state_database={self.state}"

    def snapshot(self) -> list[Any]:
        """What the Collector's database holds: its tables, their definitions, rows and parts."""
        return self.helper.query(
            "SELECT name, create_table_query, total_rows, metadata_modification_time FROM system.tables "
            "WHERE database = {d:String} ORDER BY name",
            {"d": self.db},
            reads_ingest=False,
        )


@pytest.fixture(params=["classic", "newer"])
def collector(request: pytest.FixtureRequest, store_kind: str) -> Iterator[Collector]:
    c = Collector(request, store_kind, request.param)
    yield c
    c.helper.close()
    for database in (c.db, c.state, c.helper.db):
        drop_database(store_dsn(request, store_kind, database))


def bodies(client: TestClient, query: str) -> list[str]:
    response = client.get("/api/logs", params={"q": query, "limit": 1000})
    assert response.status_code == 200, response.text
    return sorted(log["body"] for log in response.json()["logs"])


def test_collector_tables_are_read_as_they_are(collector: Collector, receiver: Receiver) -> None:
    before = collector.snapshot()
    store = Store(collector.source_dsn())
    try:
        backend = Backend(store)
        with api_client(backend) as client:
            check_searches(client)
            check_paging_session_trace_keys(client, collector)
            check_alert_rule(store, receiver)
            # the receiver of this backend refuses: the Collector writes these tables
            refused = client.post("/v1/logs", content=b"", headers={"Content-Type": "application/x-protobuf"})
            assert refused.status_code == 503 and "Collector" in refused.text
    finally:
        store.close()
    assert collector.snapshot() == before  # nothing created, nothing changed


def check_searches(client: TestClient) -> None:
    accepted, declined, retrying = (
        "payment accepted for order 1",
        "payment declined for order 2",
        "retrying the card network",
    )
    assert bodies(client, "level:info service:checkout") == [accepted]  # Information, 9
    assert len(bodies(client, "level:info")) == 1 + otel_tables.TIED  # INFO2, 10
    assert bodies(client, "level:warn") == [retrying]  # "warning" with no number
    assert bodies(client, "level>=warn") == [declined, retrying]
    assert bodies(client, '"payment declined"') == [declined]
    assert bodies(client, "payment -declined") == [accepted]
    assert bodies(client, "service:checkout -env:prod") == []
    assert bodies(client, "env:staging") == [retrying]
    assert bodies(client, "user.id:42") == [accepted]
    assert bodies(client, "tags:eu http.method:GET") == [accepted]  # an array element, a map's entry
    assert bodies(client, "duration_ms>500") == [declined]
    assert bodies(client, "duration_ms<=500") == [retrying]
    assert bodies(client, "session_id:s-1") == [accepted, declined]
    assert bodies(client, f"trace_id:{otel_tables.TRACE_ID.upper()}") == [accepted, declined]
    assert bodies(client, "user.id EXISTS") == [accepted]
    assert bodies(client, "service:pay*") == [retrying]
    assert bodies(client, "message:/declined|network/") == [declined, retrying]
    assert bodies(client, "(service:payments OR user.id:42) NOT retrying") == [accepted]
    assert bodies(client, "n:299") == ["tick 299"]
    assert client.get("/api/logs/count", params={"q": "service:batch"}).json()["count"] == otel_tables.TIED


def check_paging_session_trace_keys(client: TestClient, collector: Collector) -> None:
    # 300 logs of one nanosecond, 7 a page: each exactly once (the cursor's tie-breaker is stable)
    paged = page_bodies(client, 7, q="service:batch")
    assert sorted(paged) == sorted(f"tick {i}" for i in range(otel_tables.TIED))
    assert len(page_bodies(client, 50)) == otel_tables.TIED + 3
    histogram = client.get("/api/logs/histogram", params={"q": "", "buckets": 12, "from": "1h"}).json()
    assert sum(sum(b["counts"].values()) for b in histogram["buckets"]) == otel_tables.TIED + 3
    session = client.get("/api/sessions/s-1").json()
    assert (session["log_count"], session["errors"], session["services"]) == (2, 1, ["checkout"])
    (request,) = session["requests"]  # the trace, with its root span from otel_traces
    assert request["trace_id"] == otel_tables.TRACE_ID and request["name"] == "POST /checkout"
    trace = client.get(f"/api/traces/{otel_tables.TRACE_ID}").json()
    spans = {span["name"]: span for span in trace["spans"]}
    assert set(spans) == {"POST /checkout", "charge"}
    assert spans["charge"]["parent_span_id"] == otel_tables.ROOT_SPAN
    assert spans["POST /checkout"]["kind"] == "SPAN_KIND_SERVER" and spans["POST /checkout"]["session_id"] == "s-1"
    (event,) = spans["POST /checkout"]["events"]
    assert event["name"] == "exception" and event["attributes"] == {"exception.message": "card declined"}
    patterns = client.get("/api/patterns", params={"from": "1h"}).json()
    assert {p["template"]: p["count"] for p in patterns["patterns"]}["tick <*>"] == otel_tables.TIED
    assert client.get("/api/logs/estimate", params={"from": "1h"}).json()["rows"] >= otel_tables.TIED
    keys = [k["key"] if isinstance(k, dict) else k for k in client.get("/api/keys").json()["keys"]]
    assert "user.id" in keys and "duration_ms" in keys


def check_alert_rule(store: Store, receiver: Receiver) -> None:
    rules = RuleStore(store)
    rule = rules.save(
        validate(
            Rule(
                name="checkout errors",
                query="level:error service:checkout",
                threshold=1,
                window_seconds=3600,
                frequency_seconds=60,
                destinations=[Destination("webhook", receiver.url + "/hook")],
            )
        )
    )
    notifier = Notifier(backoff=0.01, policy=WebhookPolicy.allowing("127.0.0.0/8"))
    evaluator = Evaluator(store, rules, notifier, delay_seconds=0)
    asyncio.run(evaluator.evaluate(rule, time.time_ns()))
    (sent,) = receiver.at("/hook")
    assert sent.json["state"] == "ALERTING" and sent.json["count"] == 1
    assert sent.json["samples"][0]["body"] == "payment declined for order 2"


def test_missing_tables_and_bad_options_are_clear(request: pytest.FixtureRequest, tmp_path: Any) -> None:
    dsn = store_dsn(request, "chdb", "nothing_here")
    with pytest.raises(StoreError, match="has no table otel_logs: the Collector's ClickHouse exporter makes it"):
        Store(dsn + "&source=otel")
    with pytest.raises(StoreError, match="state database must be a plain name other than the Collector's"):
        Store(dsn + "&source=otel&state_database=nothing_here")
    with pytest.raises(StoreError, match="source must be one of hlog, otel"):
        Store(dsn + "&source=loki")


async def test_hlog_tui_leaves_the_rules_to_hlog_serve_on_a_server(
    collector: Collector, store_kind: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hlog-tui --source otel on a ClickHouse server reads; the rules are evaluated by the
    `hlog serve --source otel` there (both evaluating one state database fired every alert twice).
    On the embedded engine, hlog-tui is the only process: it evaluates them."""
    from hlog.tui.link import connect

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # the API token of this test's "user"
    link = await connect(None, collector.source_dsn())
    try:
        assert link.backend is not None
        (service,) = link.backend.extensions
        assert service.evaluate == (store_kind == "chdb")
    finally:
        await link.close()
