"""Each search operator against a real chDB store, through the HTTP API."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from hlog.backend.app import Backend
from hlog.backend.store import Store
from hlog.backend.timeutil import format_ns
from tests.conftest import api_client, page_bodies, post_logs

T0 = time.time_ns() - 3600 * 10**9  # an hour ago, well inside retention
TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    post_logs(
        client,
        [
            {
                "body": "Timeout after 3s calling inventory",
                "level": "ERROR",
                "ts": T0 + 1,
                "attrs": {"duration_ms": 3000, "user.id": "42", "session.id": "s-1", "http.route": "/api/cart"},
            },
            {
                "body": "timeouts are configured",
                "level": "info",
                "ts": T0 + 2,
                "attrs": {"duration_ms": 12, "user.id": "7"},
            },
            {
                "body": "payment declined: card expired",
                "level": "warning",
                "ts": T0 + 3,
                "attrs": {"duration_ms": 480, "session.id": "s-1"},
                "trace_id": TRACE,
            },
            {"body": "BILLING_ERROR raised for order 9", "number": 21, "ts": T0 + 4, "attrs": {"env": "x"}},
            {
                "body": '{"event": "login", "ok": true}',
                "level": "debug",
                "ts": T0 + 5,
                "attrs": {"deployment.environment": "staging"},
            },
        ],
        resource={"service.name": "checkout", "host.name": "web-1", "deployment.environment.name": "prod"},
    )
    post_logs(
        client,
        [
            {"body": "Connection reset by peer", "level": "ERROR", "ts": T0 + 6, "attrs": {"duration_ms": "1.5"}},
            {"body": "user-42 signed in", "level": "INFO", "ts": T0 + 7, "attrs": {"hlog.session_id": "s-2"}},
        ],
        resource={"service.name": "payments", "host.name": "web-2"},
    )
    return client


def bodies(client: TestClient, query: str) -> list[str]:
    response = client.get("/api/logs", params={"q": query, "limit": 100})
    assert response.status_code == 200, response.text
    return sorted(log["body"] for log in response.json()["logs"])


CASES = [
    ("", 7),
    ("timeout", ["Timeout after 3s calling inventory"]),  # whole word, any case; not "timeouts"
    ("time*", ["Timeout after 3s calling inventory", "timeouts are configured"]),
    ("*outs", ["timeouts are configured"]),
    ('"connection reset"', ["Connection reset by peer"]),
    ("BILLING_ERROR", ["BILLING_ERROR raised for order 9"]),
    ("user-42", ["user-42 signed in"]),
    ("level:error", ["Connection reset by peer", "Timeout after 3s calling inventory"]),
    ("level:warning", ["payment declined: card expired"]),
    (
        "level>=warn",
        [
            "BILLING_ERROR raised for order 9",
            "Connection reset by peer",
            "Timeout after 3s calling inventory",
            "payment declined: card expired",
        ],
    ),
    ("level<info", ['{"event": "login", "ok": true}']),
    ("level:fatal", ["BILLING_ERROR raised for order 9"]),
    ("service_name:payments level:error", ["Connection reset by peer"]),
    ("service:pay*", ["Connection reset by peer", "user-42 signed in"]),
    ("service_name!=checkout", ["Connection reset by peer", "user-42 signed in"]),
    ("-service_name:checkout", ["Connection reset by peer", "user-42 signed in"]),
    ("NOT service_name:checkout", ["Connection reset by peer", "user-42 signed in"]),
    ("user.id:42", ["Timeout after 3s calling inventory"]),
    ("user.id=(42 OR 7)", ["Timeout after 3s calling inventory", "timeouts are configured"]),
    ("user.id EXISTS", ["Timeout after 3s calling inventory", "timeouts are configured"]),
    ("user.id:*", ["Timeout after 3s calling inventory", "timeouts are configured"]),
    ("duration_ms>400", ["Timeout after 3s calling inventory", "payment declined: card expired"]),
    ("duration_ms>=0.4s duration_ms<1s", ["payment declined: card expired"]),
    ("duration_ms<=1.5", ["Connection reset by peer"]),
    ("http.route:/api/cart", ["Timeout after 3s calling inventory"]),
    ("host.name:web-2", ["Connection reset by peer", "user-42 signed in"]),  # resource attribute
    ("host.name:/web-[2]/", ["Connection reset by peer", "user-42 signed in"]),
    ("env:staging", ['{"event": "login", "ok": true}']),  # log attribute beats resource
    ("environment:prod level:warn", ["payment declined: card expired"]),
    ("session_id:s-1", ["Timeout after 3s calling inventory", "payment declined: card expired"]),
    ("secure_session_id:s-2", ["user-42 signed in"]),
    (f"trace_id:{TRACE.upper()}", ["payment declined: card expired"]),
    (
        "session_id NOT EXISTS service:checkout",
        ["BILLING_ERROR raised for order 9", '{"event": "login", "ok": true}', "timeouts are configured"],
    ),
    ("message:/card (expired|stolen)/", ["payment declined: card expired"]),
    ('message:"reset by"', ["Connection reset by peer"]),
    ("(timeout OR declined) level:error", ["Timeout after 3s calling inventory"]),
    # the space binds loosest (Highlight's precedence); an explicit AND binds tighter than OR
    ("timeout OR declined level:warn", ["payment declined: card expired"]),
    ("timeout OR declined AND level:warn", ["Timeout after 3s calling inventory", "payment declined: card expired"]),
    ("login", ['{"event": "login", "ok": true}']),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] or "<empty>" for c in CASES])
def test_operator(seeded: TestClient, query: str, expected: list[str] | int) -> None:
    found = bodies(seeded, query)
    if isinstance(expected, int):
        assert len(found) == expected
    else:
        assert found == sorted(expected)


def test_attribute_tokens_keep_the_semantics_of_the_maps(client: TestClient) -> None:
    post_logs(
        client,
        [
            {"body": "on its resource's host", "attrs": {"user.id": "1", "k": "v=w"}},
            {"body": "moved to another host", "attrs": {"host.name": "web-9", "a=b": "c"}},
            {"body": "a long attribute", "attrs": {"blob": "x" * 600, "note": "é" * 300}},
        ],
        resource={"service.name": "search", "host.name": "web-2"},
    )
    assert bodies(client, "host.name:web-9") == ["moved to another host"]  # the log's own attribute wins
    assert bodies(client, "host.name:WEB-9") == []  # equality is exact, as on the map
    assert bodies(client, "host.name:web-2") == ["a long attribute", "on its resource's host"]
    assert bodies(client, 'a:"b=c"') == []  # the stored key is `a=b`, not `a`
    assert bodies(client, 'k:"v=w"') == ["on its resource's host"]
    assert bodies(client, "blob EXISTS") == ["a long attribute"]
    assert bodies(client, f"blob:{'x' * 600}") == ["a long attribute"]  # too long to be indexed: read from the map
    assert bodies(client, f"blob:{'x' * 599}") == []
    assert bodies(client, f"note:{'é' * 300}") == ["a long attribute"]  # 600 bytes
    assert bodies(client, "user.id!=1") == ["a long attribute", "moved to another host"]


def test_pages_are_exact_across_days_and_parts(client: TestClient) -> None:
    hour = 3600 * 10**9
    now = time.time_ns()
    ages = {"ahead of the clock": -hour, "10 min": hour // 6, "3 h": 3 * hour, "2 d": 48 * hour, "10 d": 240 * hour}
    # two logs share each timestamp, so pages also split rows of one instant
    records = [{"body": f"{name} {i}", "ts": now - age} for name, age in ages.items() for i in (1, 2)]
    post_logs(client, records)
    expected = [r["body"] for r in sorted(records, key=lambda r: -r["ts"])]

    for limit in (1, 3, 100):
        found = page_bodies(client, limit)
        assert len(found) == len(expected) and [b.rsplit(" ", 1)[0] for b in found] == [
            b.rsplit(" ", 1)[0] for b in expected
        ], (limit, found)
    window = page_bodies(client, 2, **{"from": format_ns(now - 72 * hour, 9), "to": format_ns(now - hour, 9)})
    assert sorted(window) == ["2 d 1", "2 d 2", "3 h 1", "3 h 2"]


def test_timestamp_comparison(seeded: TestClient) -> None:
    stamp = format_ns(T0 + 5, 9)
    assert bodies(seeded, f'timestamp>"{stamp}"') == ["Connection reset by peer", "user-42 signed in"]
    assert len(bodies(seeded, f"timestamp<={stamp}")) == 5


def test_count_and_histogram(seeded: TestClient) -> None:
    assert seeded.get("/api/logs/count", params={"q": "level:error"}).json() == {"count": 2}
    hist = seeded.get(
        "/api/logs/histogram",
        params={"q": "", "from": format_ns(T0 - 10**9, 9), "to": format_ns(T0 + 10**9, 9), "buckets": 4},
    ).json()
    assert hist["total"] == 7
    assert len(hist["buckets"]) == 4
    assert hist["buckets"][2]["counts"] == {"ERROR": 2, "INFO": 2, "WARN": 1, "FATAL": 1, "DEBUG": 1}


def test_query_error_is_400_with_position(seeded: TestClient) -> None:
    response = seeded.get("/api/logs", params={"q": "level:error AND"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "query" and error["column"] == 16 and "dangling" in error["message"]


def test_bad_parameters_are_400(seeded: TestClient) -> None:
    for params in (
        {"limit": "x"},
        {"limit": "0"},
        {"from": "yesterday"},
        {"cursor": "nope"},
        {"from": "1h", "to": "2h"},
    ):
        response = seeded.get("/api/logs", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["type"] == "request"


def test_a_regex_the_engine_refuses_is_a_400_at_its_position(client: TestClient) -> None:
    post_logs(client, [{"body": "ab"}])
    # Python's re accepts a lookbehind; ClickHouse's RE2 does not
    for path in ("/api/logs", "/api/logs/count"):
        refused = client.get(path, params={"q": "level:info message:/(?<=a)b/"})
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["type"] == "query" and "invalid perl operator" in error["message"] and error["column"] == 20


def test_store_errors_name_no_path_and_no_query_text(store: Store) -> None:
    with api_client(Backend(store)) as client:
        store.command(f"DETACH TABLE {store.db}.logs")
        try:
            failed = client.get("/api/logs", params={"q": '"secret search words"'})
        finally:
            store.command(f"ATTACH TABLE {store.db}.logs")
    assert failed.status_code == 503
    message = failed.json()["error"]["message"]
    assert store.target.location not in message and "secret search words" not in message, message
