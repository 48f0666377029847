"""Guardrails: a search's reads stop at the store's time limit, and stop at once in the store when
the request is abandoned (hlog-tui moved on, a client went away), not only in the UI."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from urllib.parse import urlencode, urlparse

import pytest

from bench.gen import generate
from hlog.backend import facets as facet_queries
from hlog.backend.app import Backend
from hlog.backend.client import in_process_http
from hlog.backend.store import Store
from tests.clickhouse import ClickHouseServer
from tests.conftest import Server, api_client, auth

ROWS = 2_000_000


@pytest.fixture
def big_store(store: Store) -> Store:
    """Two million generated logs over the last 7 days (inserted inside ClickHouse)."""
    generate(store.connection(), f"{store.db}.logs", ROWS, time.time_ns(), 7 * 86400 * 10**9)
    return store


def running(store: Store) -> list[str]:
    """The tagged searches the store is running now."""
    rows = store.query("SELECT query FROM system.processes WHERE startsWith(Settings['log_comment'], 'hlog-query:')")
    return [str(r[0]) for r in rows]


async def test_an_abandoned_search_stops_in_the_store(big_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facet_queries, "EXACT_ROWS", 10 * ROWS)  # every match read: a long query
    backend = Backend(big_store, ingest=False)
    async with in_process_http(backend) as http:
        started = time.monotonic()
        whole = await http.get("/api/facets", params={"from": "30d"})
        full = time.monotonic() - started
        assert whole.status_code == 200 and whole.json()["total"] == ROWS
        assert not running(big_store)
        request = asyncio.ensure_future(http.get("/api/facets", params={"from": "30d", "q": "-level:debug"}))
        deadline = time.monotonic() + 30
        while not running(big_store):  # the search has reached the store
            assert time.monotonic() < deadline and not request.done(), "the search never ran"
            await asyncio.sleep(0.01)
        request.cancel()  # what a worker of hlog-tui's does when the user moves on
        cancelled = time.monotonic()
        while running(big_store):
            assert time.monotonic() - cancelled < full, f"still running {full:.1f} s after it was abandoned"
            await asyncio.sleep(0.01)
        stopped = time.monotonic() - cancelled
        assert stopped < full / 2, (stopped, full)


async def test_a_search_past_the_time_limit_is_stopped_and_says_so(
    big_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(facet_queries, "EXACT_ROWS", 10 * ROWS)
    backend = Backend(big_store, ingest=False, read_timeout=0.05)
    async with in_process_http(backend) as http:
        response = await http.get("/api/facets", params={"from": "30d"})
    assert response.status_code == 503
    assert response.json()["error"]["message"] == (
        "the search took longer than the store's time limit and was stopped: narrow the range or the search"
    )
    assert not running(big_store)


def test_a_search_whose_client_went_away_stops_in_the_store(clickhouse: ClickHouseServer) -> None:
    """Through `hlog serve` on a ClickHouse server: the client closes its connection mid-search."""
    store = Store(clickhouse.dsn("g_" + uuid.uuid4().hex[:12]))
    generate(store.connection(), f"{store.db}.logs", 2 * ROWS, time.time_ns(), 7 * 86400 * 10**9)
    server = Server(store.dsn).start()
    try:
        url = urlparse(server.url)
        # every log's user, grouped, then counted per bucket, two regexes a log: seconds of work for the store
        target = "/api/logs/histogram?" + urlencode(
            {"from": "30d", "by": "user.id", "buckets": 1000, "q": "/.*a.*e.*i.*o.*u.*/ OR -/kraken/"}
        )

        def ask() -> socket.socket:
            sock = socket.create_connection((url.hostname, url.port))
            headers = "".join(f"{k}: {v}\r\n" for k, v in auth().items())
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode())
            return sock

        started = time.monotonic()
        with ask() as sock:
            answer = sock.makefile("rb").read()
        full = time.monotonic() - started
        assert b" 200 " in answer.split(b"\r\n", 1)[0], answer[:300]
        sock = ask()
        deadline = time.monotonic() + 30
        while not running(store):
            assert time.monotonic() < deadline, "the search never ran"
            time.sleep(0.01)
        sock.close()  # the client goes away
        gone = time.monotonic()
        while running(store):
            assert time.monotonic() - gone < full, f"still running {full:.1f} s after its client left"
            time.sleep(0.01)
        stopped = time.monotonic() - gone
        assert stopped < full / 2, (stopped, full)
    finally:
        server.stop()
        store.close()


@pytest.fixture
def small_store(store: Store) -> Store:
    """50,000 generated logs over the last 7 days."""
    generate(store.connection(), f"{store.db}.logs", 50_000, time.time_ns(), 7 * 86400 * 10**9)
    return store


def test_the_estimate_says_what_a_count_would_read_before_reading(small_store: Store) -> None:
    with api_client(Backend(small_store, ingest=False)) as client:
        week = client.get("/api/logs/estimate", params={"from": "8d"}).json()
        assert week["rows"] >= 50_000 and week["parts"] >= 1 and week["marks"] >= 1 and week["limit"] > 0
        day = client.get("/api/logs/estimate", params={"from": "1d"}).json()
        assert 0 < day["rows"] < week["rows"]  # the primary key narrows it
        assert client.get("/api/logs/estimate", params={"from": "1d", "q": "level:"}).status_code == 400
        assert client.get("/api/logs/estimate").status_code == 400  # a range is needed


def test_a_count_past_the_row_limit_is_stopped_and_says_so(small_store: Store) -> None:
    with api_client(Backend(small_store, ingest=False, scan_rows_limit=10_000)) as client:
        for path in ("/api/logs/count", "/api/logs/histogram", "/api/facets", "/api/patterns"):
            refused = client.get(path, params={"q": "level:error", "from": "8d"})
            assert refused.status_code == 503, path
            assert "more logs than the store's limit" in refused.json()["error"]["message"]
        page = client.get("/api/logs", params={"q": "level:error", "from": "8d", "limit": 50})
        assert page.status_code == 200 and len(page.json()["logs"]) == 50  # a page reads only what it shows
        narrow = client.get("/api/logs/count", params={"q": "level:error", "from": "1h"})
        assert narrow.status_code == 200  # a narrower range reads less


def test_hlog_serve_max_rows_to_read_and_the_cli_says_why(
    clickhouse: ClickHouseServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `hlog serve` on a ClickHouse server (an embedded store is this process's own)."""
    from hlog.backend.cli import main

    store = Store(clickhouse.dsn("r_" + uuid.uuid4().hex[:12]))
    generate(store.connection(), f"{store.db}.logs", 50_000, time.time_ns(), 7 * 86400 * 10**9)
    server = Server(store.dsn, "--max-rows-to-read", "10000").start()
    try:
        assert main(["search", "level:error", "--since", "8d", "--count", "--backend", server.url]) == 1
        assert "more logs than the store's limit" in capsys.readouterr().err
        assert main(["search", "level:error", "--since", "1h", "--count", "--backend", server.url]) == 0
    finally:
        server.stop()
        store.close()
