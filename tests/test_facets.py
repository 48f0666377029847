"""Facets: the top values of each field among a search's matches, exact or from a sample that says so."""

from __future__ import annotations

import json
import time

import pytest
from starlette.testclient import TestClient

from hlog.backend import facets as facet_queries
from hlog.backend.app import Backend
from hlog.backend.cli import main
from hlog.backend.store import Store
from tests.conftest import api_client, post_logs

NOW = time.time_ns()


def seed(client: TestClient) -> None:
    """checkout: 15 INFO and 5 ERROR, 12 in region eu and 8 in us; payments: 10 ERROR, no region."""
    checkout = [
        {
            "body": f"checkout step {i}",
            "level": "ERROR" if i < 5 else "INFO",
            "ts": NOW - (100 - i) * 10**9,
            "attrs": {"region": "eu" if i % 5 < 3 else "us", "attempt": i % 2},
        }
        for i in range(20)
    ]
    post_logs(client, checkout, resource={"service.name": "checkout", "host.name": "web-1"})
    payments = [{"body": f"charge {i} failed", "level": "ERROR", "ts": NOW - (50 - i) * 10**9} for i in range(10)]
    post_logs(client, payments, resource={"service.name": "payments", "host.name": "web-2"})


def values(found: dict, key: str) -> dict[str, int]:  # type: ignore[type-arg]
    [facet] = [f for f in found["facets"] if f["key"] == key]
    return {v["value"]: v["count"] for v in facet["values"]}


def test_facets_count_every_match_exactly(client: TestClient) -> None:
    seed(client)
    found = client.get("/api/facets", params={"from": "1h"}).json()
    assert found["total"] == 30 and found["exact"] is True and found["sample_rate"] == 1
    keys = [f["key"] for f in found["facets"]]
    assert keys[:4] == ["level", "service_name", "environment", "service_version"]
    assert set(keys[4:]) == {"region", "attempt", "host.name"}  # service.name is service_name already
    assert values(found, "level") == {"ERROR": 15, "INFO": 15}
    assert values(found, "service_name") == {"checkout": 20, "payments": 10}
    assert values(found, "region") == {"eu": 12, "us": 8}
    [service] = [f for f in found["facets"] if f["key"] == "service_name"]
    assert [v["share"] for v in service["values"]] == [0.6667, 0.3333] and service["other"] == 0
    errors = client.get("/api/facets", params={"q": "level:error", "from": "1h", "top": 1, "key": "region"}).json()
    assert errors["total"] == 15
    assert [f["key"] for f in errors["facets"]] == ["level", "service_name", "environment", "service_version", "region"]
    assert values(errors, "service_name") == {"payments": 10}  # the top one; the rest is "other"
    [service] = [f for f in errors["facets"] if f["key"] == "service_name"]
    assert service["count"] == 15 and service["other"] == 5 and service["distinct"] == 2
    assert values(errors, "region") == {"eu": 3}  # of checkout's 5 errors (steps 0-4: eu, eu, eu, us, us)
    bad = client.get("/api/facets", params={"q": "level:", "from": "1h"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "query"
    assert client.get("/api/facets", params={"top": 0}).status_code == 400


def test_many_matches_are_sampled_and_said_to_be(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(client)
    monkeypatch.setattr(facet_queries, "EXACT_ROWS", 10)  # 30 matches: every third log, by a hash of its id
    found = client.get("/api/facets", params={"from": "1h"}).json()
    assert found["total"] == 30 and found["exact"] is False and found["sample_rate"] == 3
    sampled = found["sampled_logs"]
    assert 0 < sampled < 30
    level = values(found, "level")
    assert sum(level.values()) == 3 * sampled and all(n % 3 == 0 for n in level.values())
    for facet in found["facets"]:
        assert round(sum(v["share"] for v in facet["values"]) + facet["other_share"], 3) <= 1.0


def test_hlog_facets_prints_a_table_and_jsonl(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with api_client(Backend(store)) as client:
        seed(client)
    assert main(["facets", "level:error", "--store", store.dsn, "--key", "region", "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "15 logs match in the last 1h (counts exact)"
    assert "service_name  (2 values)" in lines
    at = lines.index("service_name  (2 values)")
    assert lines[at + 1].split() == ["payments", "10", "66.7%", "#" * 13]
    assert lines[at + 2].split() == ["checkout", "5", "33.3%", "#" * 7]
    assert "region  (2 values)" in lines and "host.name  (2 values)" not in lines
    assert main(["facets", "--store", store.dsn, "--format", "jsonl"]) == 0
    facets = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [f["key"] for f in facets][:2] == ["level", "service_name"]
    assert main(["facets", "level:", "--store", store.dsn]) == 2
    assert "invalid query" in capsys.readouterr().err
