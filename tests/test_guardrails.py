"""Guardrails: a search's reads stop at the store's time limit, and stop at once in the store when
the request is abandoned (hlog-tui moved on, a client went away), not only in the UI."""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.gen import generate
from hlog.backend import facets as facet_queries
from hlog.backend.app import Backend
from hlog.backend.client import in_process_http
from hlog.backend.store import Store

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
