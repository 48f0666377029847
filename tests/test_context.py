"""Context around a log: the same service (and host), host, session, trace or all logs, in time
order, across parts and days; `hlog context`."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from hlog.backend.app import Backend
from hlog.backend.cli import main
from hlog.backend.store import Store
from tests.conftest import api_client, post_logs

DAY = 86_400 * 10**9
S = 10**9
NOW = time.time_ns()
TRACE = "cd" * 16
# (resource, records): each post is its own insert (its own part), over three days
SEED: list[tuple[dict[str, str], list[dict[str, Any]]]] = [
    (
        {"service.name": "checkout", "host.name": "web-1"},
        [{"body": "c1 cart opened", "ts": NOW - 2 * DAY}, {"body": "c2 item added", "ts": NOW - 2 * DAY + S}],
    ),
    ({"service.name": "checkout", "host.name": "web-2"}, [{"body": "x1 other host", "ts": NOW - 2 * DAY + 2 * S}]),
    ({"service.name": "payments", "host.name": "web-1"}, [{"body": "p1 charge", "ts": NOW - DAY}]),
    (
        {"service.name": "checkout", "host.name": "web-1"},
        [
            {"body": "c3 address set", "ts": NOW - DAY + S},
            {"body": "c4 shipping chosen", "ts": NOW - DAY + 2 * S},
            {"body": "c5 pay pressed", "ts": NOW - 10 * S, "attrs": {"session.id": "s-1"}, "trace_id": TRACE},
        ],
    ),
    (
        {"service.name": "payments", "host.name": "web-1"},
        [
            {
                "body": "p2 card declined",
                "ts": NOW - 9 * S,
                "level": "ERROR",
                "number": 17,
                "attrs": {"session.id": "s-1"},
                "trace_id": TRACE,
            }
        ],
    ),
    (
        {"service.name": "checkout", "host.name": "web-1"},
        [
            {"body": "c6 payment failed", "ts": NOW - 8 * S, "level": "ERROR", "number": 17, "trace_id": TRACE},
            {"body": "c7 retry offered", "ts": NOW - 7 * S, "attrs": {"session.id": "s-1"}},
            {"body": "c8 cart kept", "ts": NOW - 6 * S},
        ],
    ),
    ({"service.name": "checkout"}, [{"body": "n1 no host", "ts": NOW - 5 * S}]),
]


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    for resource, records in SEED:
        post_logs(client, records, resource=resource)
    return client


def log_id(client: TestClient, body: str) -> str:
    [log] = client.get("/api/logs", params={"q": f'"{body}"'}).json()["logs"]
    return str(log["log_id"])


def context(client: TestClient, body: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/logs/{log_id(client, body)}/context", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def bodies(found: dict[str, Any]) -> list[str]:
    return [log["body"].split()[0] for log in found["logs"]]


def test_context_by_each_scope_in_time_order_across_parts_and_days(seeded: TestClient) -> None:
    found = context(seeded, "c5 pay pressed", before=3, after=3)
    assert found["by"] == "service" and found["scope"] == {"service_name": "checkout", "host.name": "web-1"}
    assert bodies(found) == ["c2", "c3", "c4", "c5", "c6", "c7", "c8"]  # not x1 (web-2), p1, p2, n1
    assert found["logs"][found["anchor"]]["body"] == "c5 pay pressed"
    assert found["more_before"] is True and found["more_after"] is False
    assert bodies(context(seeded, "c5 pay pressed", before=3, after=2, by="host")) == [
        "p1",
        "c3",
        "c4",
        "c5",
        "p2",
        "c6",
    ]
    assert bodies(context(seeded, "c5 pay pressed", before=5, after=5, by="session")) == ["c5", "p2", "c7"]
    assert bodies(context(seeded, "p2 card declined", before=5, after=5, by="trace")) == ["c5", "p2", "c6"]
    everything = context(seeded, "c2 item added", before=5, after=20, by="all")
    assert bodies(everything) == ["c1", "c2", "x1", "p1", "c3", "c4", "c5", "p2", "c6", "c7", "c8", "n1"]
    assert everything["more_before"] is False and everything["more_after"] is False
    # a log without a host: the same service, whatever the host
    assert bodies(context(seeded, "n1 no host", before=2, after=2)) == ["c7", "c8", "n1"]


def test_more_is_loaded_by_keyset_from_either_end(seeded: TestClient) -> None:
    first = context(seeded, "c6 payment failed", before=1, after=1)
    assert bodies(first) == ["c5", "c6", "c7"]
    earlier = seeded.get(f"/api/logs/{first['logs'][0]['log_id']}/context", params={"before": 10, "after": 0}).json()
    assert bodies(earlier) == ["c1", "c2", "c3", "c4", "c5"] and earlier["more_before"] is False
    later = seeded.get(f"/api/logs/{first['logs'][-1]['log_id']}/context", params={"before": 0, "after": 10}).json()
    assert bodies(later) == ["c7", "c8"] and later["more_after"] is False


def test_logs_of_one_instant_keep_one_order(client: TestClient) -> None:
    at = NOW - 60 * S
    for batch in range(3):  # three inserts, two logs each, every one at the same nanosecond
        post_logs(client, [{"body": f"tie {batch}-{i}", "ts": at} for i in range(2)], resource={"service.name": "t"})
    page = client.get("/api/logs", params={"q": "service_name:t", "limit": 10}).json()["logs"]
    oldest_first = [log["body"] for log in reversed(page)]
    middle = oldest_first[2]
    found = context(client, middle, before=10, after=10)
    assert [log["body"] for log in found["logs"]] == oldest_first
    assert found["anchor"] == 2


def test_matches_of_the_search_are_marked(seeded: TestClient) -> None:
    found = context(seeded, "c5 pay pressed", before=3, after=3, q="level:error OR retry")
    assert [log["body"].split()[0] for log in found["logs"] if log["matches"]] == ["c6", "c7"]
    assert "matches" not in context(seeded, "c5 pay pressed")["logs"][0]


def test_clear_answers_for_what_cannot_be_shown(seeded: TestClient) -> None:
    c1 = log_id(seeded, "c1 cart opened")
    cases = [
        (f"/api/logs/{c1}/context?by=session", 400, "this log has no session_id"),
        (f"/api/logs/{c1}/context?by=planet", 400, "by must be one of service, host, session, trace, all"),
        (f"/api/logs/{c1}/context?before=5000", 400, "before must be between 0 and 1000"),
        (f"/api/logs/{c1}/context?q=level:", 400, ""),
        ("/api/logs/12-34/context", 404, "no log has the id 12-34"),
        ("/api/logs/not-an-id/context", 400, "invalid log id 'not-an-id'"),
        ("/api/logs/12-34", 404, "no log has the id 12-34"),
    ]
    for path, status, message in cases:
        response = seeded.get(path)
        assert response.status_code == status, (path, response.text)
        assert message in response.json()["error"]["message"], path
    assert seeded.get(f"/api/logs/{c1}").json()["log"]["body"] == "c1 cart opened"


def test_hlog_context_prints_the_logs_around_one(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with api_client(Backend(store)) as client:  # closed: every log flushed into the store the CLI reads
        for resource, records in SEED:
            post_logs(client, records, resource=resource)
    assert main(["search", '"c5 pay pressed"', "--format", "jsonl", "--store", store.dsn]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["body"] == "c5 pay pressed" and "observed_timestamp_ns" in found  # jsonl: each log whole
    c5 = found["log_id"]
    args = ["context", c5, "--before", "1", "--after", "2", "--store", store.dsn]
    assert main([*args, "--query", "level:error"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line[:1] for line in lines] == [" ", ">", "*", " "]
    assert [line.split("  ")[-1].strip() for line in lines] == [
        "c4 shipping chosen",
        "c5 pay pressed",
        "c6 payment failed",
        "c7 retry offered",
    ]
    assert err == f"around {c5} (service_name checkout, host.name web-1): 1 before, 2 after\n"
    assert main([*args, "--format", "jsonl", "--by", "trace"]) == 0
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert all("observed_timestamp_ns" in r for r in records)  # jsonl: each log whole
    assert [(r["body"], r["anchor"]) for r in records] == [
        ("c5 pay pressed", True),
        ("p2 card declined", False),
        ("c6 payment failed", False),
    ]
    assert records[0]["log_id"] == c5 and err == ""
    assert main(["context", "nonsense", "--store", store.dsn]) == 2
    assert "is not a log id" in capsys.readouterr().err
    assert main(["context", "12-34", "--store", store.dsn]) == 1
    assert capsys.readouterr().err == "hlog: no log has the id 12-34 (it may have passed the retention period)\n"
    assert main(["context", c5, "--by", "session", "--store", store.dsn, "--before", "0", "--after", "0"]) == 0
