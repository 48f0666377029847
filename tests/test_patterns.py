"""Patterns: every match grouped by the shape of its message, exact counts, templates of known
message families, the term that finds a pattern's logs, and a comparison with earlier."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from starlette.testclient import TestClient

from hlog.backend.app import Backend
from hlog.backend.cli import main
from hlog.backend.patterns import MAX_CHARS, pattern_regex, sparkline
from hlog.backend.store import Store
from tests.conftest import api_client, post_logs

NOW = time.time_ns()
MINUTE = 60 * 10**9
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
NAMES = ["ada lovelace", "alan turing", "grace hopper", "edsger dijkstra"]
SERVICES = ["gateway", "checkout", "payments", "inventory"]


def when(i: int) -> str:
    return f"{DAYS[i % 7]} Jul {i % 28 + 1} 15:{i % 60:02}:01 2024"


# message families with known templates: (template, a message of the family from i)
FAMILIES = [
    ("user <*> logged in from <*>", lambda i: f"user {1000 + i * 37} logged in from 10.0.{i % 7}.{i}:{40000 + i}"),
    ("payment <*> declined: code=<*>", lambda i: f"payment {uuid.UUID(int=i * 7919)} declined: code={i % 4 + 51}"),
    ("GET <*> took <*>", lambda i: f"GET /api/items/{i * 13} took {i % 9 + 1}ms"),
    ("lookup name=<*> failed", lambda i: f'lookup name="{NAMES[i % 4]}" failed'),
    ("connection reset by peer", lambda i: "connection reset by peer"),
    ("retrying request to <*> (attempt <*>)", lambda i: f"retrying request to {SERVICES[i % 4]} (attempt {i % 3})"),
    ("job <*> finished at <*>", lambda i: f"job 0x{i * 2654435761 % 2**32:x} finished at {when(i)}"),
    ('{"event":<*>,"user":<*>,"ok":true}', lambda i: f'{{"event":"login","user":"{NAMES[i % 4]}","ok":true}}'),
    ("unknown column <*> in table orders", lambda i: f"unknown column '{SERVICES[i % 4]}_id' in table orders"),
]


def seed(client: TestClient, minutes_ago: float = 1, families: range | None = None, scale: int = 1) -> dict[str, int]:
    """Family k gets (k + 2) * 3 * scale logs, `minutes_ago` (and up to 20 s before that); their counts by template."""
    expected = {}
    for k in families if families is not None else range(len(FAMILIES)):
        template, message = FAMILIES[k]
        n = (k + 2) * 3 * scale
        records = [{"body": message(i), "ts": NOW - int(minutes_ago * MINUTE) - i * 10**7} for i in range(n)]
        post_logs(client, records, resource={"service.name": "shop"})
        expected[template] = n
    return expected


def test_every_match_is_counted_under_its_family_template(client: TestClient) -> None:
    expected = seed(client)
    found = client.get("/api/patterns", params={"from": "1h", "buckets": 12}).json()
    assert found["total"] == sum(expected.values())
    assert {p["template"]: p["count"] for p in found["patterns"]} == expected
    assert [p["count"] for p in found["patterns"]] == sorted(expected.values(), reverse=True)
    assert found["other"] == 0 and found["compare"] is None
    for p in found["patterns"]:
        assert sum(p["buckets"]) == p["count"] and len(p["buckets"]) == 12
        assert NOW - 2 * MINUTE < p["first_ns"] <= p["last_ns"] < NOW
        assert p["share"] == round(p["count"] / found["total"], 4)
    # the shapes ClickHouse grouped: one per family, but 4 for the retries (one per service) and
    # for the names in quotes, which Drain merged
    retry = next(p for p in found["patterns"] if p["template"].startswith("retrying"))
    assert retry["shape_count"] == 4
    top = client.get("/api/patterns", params={"from": "1h", "top": 2}).json()
    assert [p["count"] for p in top["patterns"]] == sorted(expected.values(), reverse=True)[:2]
    assert top["pattern_count"] == len(FAMILIES)


def test_a_patterns_term_finds_exactly_its_logs(client: TestClient) -> None:
    seed(client)
    long = [{"body": "stack trace " + "at frame " * 80 + str(i), "ts": NOW - MINUTE} for i in range(5)]
    post_logs(client, long, resource={"service.name": "shop"})
    found = client.get("/api/patterns", params={"from": "1h", "q": "service_name:shop"}).json()
    for p in found["patterns"]:
        query = f"service_name:shop {p['query']}"
        counted = client.get("/api/logs/count", params={"q": query, "from": "1h"}).json()["count"]
        assert counted == p["count"], (p["template"], p["query"])
    [cut] = [p for p in found["patterns"] if p["template"].startswith("stack trace")]
    assert cut["count"] == 5 and len(cut["template"]) <= MAX_CHARS and not cut["query"].endswith("$/")


def test_a_pattern_term_is_a_safe_regex() -> None:
    assert pattern_regex("GET /a.b <*> in <*>ms") == r"/(?s)^\s*GET\s+\/a\.b\s+.+\s+in\s+.+ms\s*$/"
    assert pattern_regex("evil \x1b]52;c;x\x07 <*>") == r"/(?s)^\s*evil\s+\x1b\]52;c;x\x07\s+.+\s*$/"


def test_a_comparison_marks_new_patterns_and_growth(client: TestClient) -> None:
    # now (the last hour): families 0, 1 and 2; the hour before: family 0 at half the rate, family 3
    now = seed(client, minutes_ago=5, families=range(3), scale=2)
    seed(client, minutes_ago=90, families=range(1), scale=1)
    seed(client, minutes_ago=95, families=range(3, 4))
    found = client.get("/api/patterns", params={"from": "1h", "compare": "1h"}).json()
    assert found["total"] == sum(now.values())
    assert found["compare"]["total"] == 6 + 15
    by_template = {p["template"]: p for p in found["patterns"]}
    assert set(by_template) == set(now)  # a pattern only seen before is none of this range's
    grown = by_template[FAMILIES[0][0]]
    assert grown["new"] is False and grown["previous"] == 6 and grown["growth"] == pytest.approx(2.0, rel=0.01)
    assert by_template[FAMILIES[1][0]]["new"] is True and by_template[FAMILIES[1][0]]["growth"] is None
    # compare over a day: the rate before is per day
    day = client.get("/api/patterns", params={"from": "1h", "compare": "24h"}).json()
    assert {p["template"]: p["growth"] for p in day["patterns"]}[FAMILIES[0][0]] == pytest.approx(48.0, rel=0.01)


def test_bad_requests_say_why(client: TestClient) -> None:
    assert client.get("/api/patterns").status_code == 400  # no from
    bad = client.get("/api/patterns", params={"from": "1h", "compare": "often"})
    assert bad.status_code == 400 and "compare" in bad.json()["error"]["message"]
    assert client.get("/api/patterns", params={"from": "1h", "q": "level:"}).json()["error"]["type"] == "query"
    assert client.get("/api/patterns", params={"from": "1h", "top": 0}).status_code == 400
    empty = client.get("/api/patterns", params={"from": "1h"}).json()
    assert empty["total"] == 0 and empty["patterns"] == []


def test_hlog_patterns_prints_a_table_and_jsonl(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with api_client(Backend(store)) as client:
        expected = seed(client, minutes_ago=5)
        post_logs(client, [{"body": f"evil \x1b]0;owned\x07 {i}", "ts": NOW - MINUTE} for i in range(2)])
    assert main(["patterns", "--store", store.dsn, "--top", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    total = sum(expected.values()) + 2
    assert lines[0].startswith(f"{total} logs match in the last 1h: ") and "every match counted" in lines[0]
    assert len(lines) == 1 + 3 + 1  # 3 patterns, then the rest
    assert lines[1].split()[0] == str(max(expected.values())) and lines[1].endswith(FAMILIES[-1][0])
    assert "\x1b" not in out
    assert main(["patterns", "evil", "--store", store.dsn, "--format", "jsonl", "--compare", "1h"]) == 0
    [evil] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert evil["template"] == "evil \x1b]<*>;owned\x07 <*>" and evil["count"] == 2 and evil["new"] is True
    assert main(["patterns", "--store", store.dsn, "--compare", "soon"]) == 2
    assert "--compare" in capsys.readouterr().err


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == " ▁▂▄█"
    assert sparkline([0, 0]) == "  "
    assert sparkline([0, 3, 6], ascii_only=True) == " =#"
