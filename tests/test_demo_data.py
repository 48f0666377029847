"""The generated history behind `hlog-tui --demo`: seeded inside ClickHouse, linked like real traffic."""

from __future__ import annotations

from starlette.testclient import TestClient

from hlog.backend.demo import seed_demo
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
