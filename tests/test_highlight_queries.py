"""A Highlight user's queries mean here what they meant there: each case against a real store.

The cases follow Highlight's search grammar (NOT > AND > OR > the space between terms) and its
search docs (wildcards and regexes in quotes, backslashes kept, backtick quotes, operators
inside a value group); they are written from reading them, not copied.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hlog.query import compile_query, describe, parse
from tests.conftest import post_logs
from tests.test_end_to_end import hlog

T0 = time.time_ns() - 600 * 10**9


@pytest.fixture
def shop(client: TestClient) -> TestClient:
    rows = [
        ("checkout", "error", "payment declined for cart 7", {"tag": "a query error here", "span_name": "gorm.Query"}),
        ("checkout", "warn", "slow query", {"tag": "no error", "span_name": "gorm.Exec"}),
        ("checkout", "info", "cart updated", {"tag": "queryerror", "span_name": "http.Query"}),
        ("payments", "error", "random error in charge", {"tag": "ab cd", "visited-url": "https://app.highlight.io/x"}),
        ("payments", "info", "charge ok", {"tag": "a*b", "visited-url": "https://example.com/x"}),
        ("private-graph", "info", "graph ok", {"win.path": "C:\\temp\\app.log", "pattern": "\\w\\w"}),
        ("private-graph", "warn", "graph slow", {"win.path": "C:\\temp\\other.log", "pattern": "ww"}),
        ("public-graph", "info", "hello world again", {"win.path": "D:\\temp\\app.log"}),
    ]
    for i, (service, level, body, attrs) in enumerate(rows):
        post_logs(client, [{"body": body, "level": level, "ts": T0 + i, "attrs": attrs}], {"service.name": service})
    return client


def bodies(client: TestClient, query: str) -> set[str]:
    answer = client.get("/api/logs", params={"q": query, "limit": 100})
    assert answer.status_code == 200, answer.text
    return {log["body"] for log in answer.json()["logs"]}


def test_a_space_binds_loosest(shop: TestClient) -> None:
    # Highlight: service AND (level:error OR level:warn); a left-to-right reading returned every payments info too
    assert bodies(shop, "service_name:checkout level:error OR level:warn") == {
        "payment declined for cart 7",
        "slow query",
    }
    assert bodies(shop, "level:error OR level:warn service_name:checkout") == {
        "payment declined for cart 7",
        "slow query",
    }
    # an explicit AND binds tighter than OR
    assert bodies(shop, "service_name:payments AND level:error OR service_name:private-graph AND level:warn") == {
        "random error in charge",
        "graph slow",
    }
    assert bodies(shop, "-service_name:checkout level:info OR level:error") == {
        "random error in charge",
        "charge ok",
        "graph ok",
        "hello world again",
    }


def test_wildcards_inside_quotes(shop: TestClient) -> None:
    assert bodies(shop, 'tag="*query error*"') == {"payment declined for cart 7"}
    assert bodies(shop, 'message="*random error*"') == {"random error in charge"}
    assert bodies(shop, '"*declined for*"') == {"payment declined for cart 7"}
    assert bodies(shop, 'visited-url="https://app.highlight.io/*"') == {"random error in charge"}
    assert bodies(shop, 'tag="a\\*b"') == {"charge ok"}  # an escaped star is a star
    assert bodies(shop, 'tag="a*e"') == {"payment declined for cart 7"}  # unescaped: a wildcard
    assert bodies(shop, 'tag="a\\*e"') == set()


def test_regex_inside_quotes(shop: TestClient) -> None:
    assert bodies(shop, 'tag="/\\w \\w/"') == {"payment declined for cart 7", "random error in charge", "slow query"}
    assert bodies(shop, 'tag="/^ab cd$/"') == {"random error in charge"}


def test_backslashes_are_kept(shop: TestClient) -> None:
    assert bodies(shop, 'pattern:"\\w\\w"') == {"graph ok"}
    assert bodies(shop, 'win.path:"C:\\temp\\app.log"') == {"graph ok"}
    assert bodies(shop, 'win.path:"C:\\\\temp\\\\app.log"') == {"graph ok"}  # escaped backslashes too


def test_backtick_quotes(shop: TestClient) -> None:
    assert bodies(shop, "`hello world`") == {"hello world again"}
    assert bodies(shop, "tag:`ab cd`") == {"random error in charge"}


def test_not_and_and_inside_a_value_group(shop: TestClient) -> None:
    assert bodies(shop, "service_name=(NOT private-graph) level:warn") == {"slow query"}
    assert bodies(shop, "span_name:(gorm.* AND *.Query)") == {"payment declined for cart 7"}
    assert bodies(shop, "span_name:(gorm.* OR http.*) -span_name:(*.Exec)") == {
        "payment declined for cart 7",
        "cart updated",
    }


def test_a_query_that_starts_with_a_dash_on_the_command_line(tmp_path: Path) -> None:
    store = f"chdb://{tmp_path / 'store'}"
    lines = [
        {"msg": f"line {i}", "level": level, "service": "cli"} for i, level in enumerate(["info", "error", "warn"])
    ]
    ingest = hlog("ingest", "-", "--store", store, stdin="".join(json.dumps(line) + "\n" for line in lines))
    assert ingest.returncode == 0, ingest.stderr

    def count(*args: str) -> str:
        done = hlog("search", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert count("-level:info", "--count", "--store", store) == "2"
    assert count("--count", "--store", store, "-level:info") == "2"
    assert count("--count", "--store", store, "--", "-level:info") == "2"
    assert count("-level:info level:error OR level:warn", "--sql").startswith(
        "-- the query, as read: NOT level:info AND (level:error OR level:warn)"
    )


@pytest.mark.parametrize(
    "query",
    [
        "service:x level:error OR level:warn",
        "a OR b AND c",
        '-a "b*c" OR k:(x OR "y z") NOT m EXISTS',
        'k:"/\\w \\w/" t:"C:\\temp" u:"\\/api/" v:"a\\*b"',
        "span_name:(gorm.* AND NOT *.Exec) `q w`",
    ],
)
def test_how_a_query_was_read_means_the_same(query: str) -> None:
    """The grouping shown to the user (the TUI's hint, --sql) is itself a query meaning the same."""
    shown = describe(parse(query))
    assert compile_query(shown).sql == compile_query(query).sql
    assert compile_query(shown).params == compile_query(query).params
