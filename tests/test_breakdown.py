"""The histogram broken down by the values of a key, and `hlog search --count --by KEY`."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from hlog.backend.app import Backend
from hlog.backend.cli import main
from hlog.backend.store import Store
from hlog.backend.timeutil import format_ns
from tests.conftest import api_client, post_logs

NOW = time.time_ns()
MINUTE = 60 * 10**9


def seed(client: TestClient) -> None:
    """Three minutes: checkout 6 logs, payments 3, search 2, auth 1; region on some."""
    for service, minutes in (
        ("checkout", [0, 0, 1, 1, 2, 2]),
        ("payments", [0, 1, 2]),
        ("search", [2, 2]),
        ("auth", [1]),
    ):
        records = [
            {
                "body": f"{service} {i}",
                "ts": NOW - (3 - m) * MINUTE + i,
                "level": "ERROR" if i == 0 else "INFO",
                "attrs": {"region": "eu"} if i % 2 else {},
            }
            for i, m in enumerate(minutes)
        ]
        post_logs(client, records, resource={"service.name": service})


def test_histogram_by_a_key_counts_each_top_value_and_the_rest(client: TestClient) -> None:
    seed(client)
    params = {"from": format_ns(NOW - 3 * MINUTE, 9), "to": format_ns(NOW, 9), "buckets": 3}
    found = client.get("/api/logs/histogram", params={**params, "by": "service_name", "top": 2}).json()
    assert found["by"] == "service_name" and found["groups"] == ["checkout", "payments"] and found["total"] == 12
    assert [b["counts"] for b in found["buckets"]] == [
        {"checkout": 2, "payments": 1},
        {"checkout": 2, "payments": 1},
        {"checkout": 2, "payments": 1},
    ]
    assert [b["other"] for b in found["buckets"]] == [0, 1, 2]  # auth at minute 1, search twice at minute 2
    # an attribute; logs without it are the value ""
    region = client.get("/api/logs/histogram", params={**params, "by": "region"}).json()
    assert region["groups"] == ["", "eu"]
    assert sum(b["counts"].get("eu", 0) for b in region["buckets"]) == 5
    # level: as a search means it
    levels = client.get("/api/logs/histogram", params={**params, "by": "level", "q": "service_name:checkout"}).json()
    assert levels["groups"] == ["INFO", "ERROR"] and levels["total"] == 6
    assert client.get("/api/logs/histogram", params={**params, "by": "region", "top": 21}).status_code == 400


def test_count_by_prints_the_values_with_the_most_matches(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with api_client(Backend(store)) as client:
        seed(client)
    assert main(["search", "--count", "--by", "service_name", "--top", "2", "--since", "1h", "--store", store.dsn]) == 0
    assert [line.split() for line in capsys.readouterr().out.splitlines()] == [
        ["checkout", "6", "50.0%"],
        ["payments", "3", "25.0%"],
        ["(other", "values)", "3", "25.0%"],
    ]
    assert main(["search", "level:error", "--count", "--by", "level", "--store", store.dsn]) == 0
    assert capsys.readouterr().out.split() == ["ERROR", "4", "100.0%"]
    assert main(["search", "--by", "level", "--store", store.dsn]) == 2
    assert "--by counts: use it with --count" in capsys.readouterr().err
