"""The generated history behind `hlog-tui --demo`: seeded inside ClickHouse, linked like real traffic."""

from __future__ import annotations

from starlette.testclient import TestClient

from hlog.backend.demo import open_demo_store, seed_demo
from hlog.backend.store import Store

NOW_NS = 1_795_176_000_000_000_000


def test_demo_history_links_a_declined_payment_to_its_session_and_trace(store: Store, client: TestClient) -> None:
    logs = seed_demo(store, NOW_NS, traces=2000)
    assert client.get("/api/logs/count", params={"from": "0"}).json()["count"] == logs
    declined = client.get(
        "/api/logs", params={"q": 'service:payments "payment declined"', "from": "0", "limit": 1}
    ).json()["logs"][0]
    assert declined["session_id"] and declined["trace_id"]
    session = client.get(f"/api/sessions/{declined['session_id']}").json()
    assert declined["trace_id"] in [r["trace_id"] for r in session["requests"]]
    spans = client.get(f"/api/traces/{declined['trace_id']}").json()["spans"]
    charge = next(s for s in spans if s["name"] == "POST /internal/charge")
    assert charge["status_code"] == "STATUS_CODE_ERROR"
    (event,) = charge["events"]
    assert event["name"] == "exception" and event["attributes"]["exception.type"] == "CardDeclined"
    assert charge["timestamp_ns"] <= event["timestamp_ns"] <= charge["timestamp_ns"] + charge["duration_ns"]


def test_the_demo_store_is_kept_for_a_day(fresh_store: str) -> None:
    """`hlog-tui --demo` seeds its store once a day (or with --reseed), not at every launch; what the
    live shop sent in between stays."""
    hour = 3600 * 10**9

    def launch(at: int, reseed: bool = False) -> tuple[bool, int]:
        store, seeded = open_demo_store(fresh_store, reseed, now_ns=at, traces=500)
        try:
            return seeded, store.query(f"SELECT count() FROM {store.db}.logs")[0][0]
        finally:
            store.close()

    seeded, logs = launch(NOW_NS)
    assert seeded and logs > 1000
    store = Store(fresh_store)
    store.command(f"INSERT INTO {store.db}.logs (Timestamp, Body) VALUES (now64(9), 'sent live')")
    store.close()
    assert launch(NOW_NS + 23 * hour) == (False, logs + 1)
    reseeded, fresh_logs = launch(NOW_NS + 23 * hour, reseed=True)
    assert reseeded and fresh_logs != logs + 1
    assert launch(NOW_NS + 23 * hour + 1) == (False, fresh_logs)
    assert launch(NOW_NS + 48 * hour)[0]  # older than a day: seeded anew


def test_demo_traffic_looks_like_a_shops(store: Store) -> None:
    """Not a flat line: quiet nights, busy afternoons, a rush; and a trace's spans end within its root."""
    logs = seed_demo(store, NOW_NS)
    hourly = [
        n
        for (n,) in store.query(
            f"SELECT count() FROM {store.db}.logs GROUP BY toStartOfHour(Timestamp) AS hour ORDER BY hour"
        )
    ]
    assert sum(hourly) == logs and len(hourly) >= 24
    assert max(hourly[1:-1]) > 3 * min(hourly[1:-1])  # the hours at both ends are partial
    ends_late = store.query(
        f"""SELECT count() FROM {store.db}.spans AS child JOIN {store.db}.spans AS root
            ON child.TraceId = root.TraceId AND child.ParentSpanId = root.SpanId
            WHERE toUnixTimestamp64Nano(child.Timestamp) + child.Duration
                > toUnixTimestamp64Nano(root.Timestamp) + root.Duration"""
    )
    assert ends_late == [(0,)]
