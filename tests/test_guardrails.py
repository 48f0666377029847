"""Guardrails: a search's reads stop at the store's time limit, and stop at once in the store when
the request is abandoned (hlog-tui moved on, a client went away), not only in the UI."""

from __future__ import annotations

import asyncio
import contextvars
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest

from bench.gen import generate
from hlog.backend import facets as facet_queries
from hlog.backend import store as store_module
from hlog.backend.app import Backend
from hlog.backend.client import in_process_http
from hlog.backend.store import QUERY_TAG, Store, StoreError
from tests.clickhouse import ClickHouseServer
from tests.conftest import Server, api_client, auth, drop_database, store_dsn
from tests.test_server_store import wait_for

ROWS = 2_000_000


@pytest.fixture
def big_store(store: Store) -> Store:
    """Two million generated logs over the last 7 days (inserted inside ClickHouse)."""
    generate(store.connection(), f"{store.db}.logs", ROWS, time.time_ns(), 7 * 86400 * 10**9)
    return store


async def until(condition: Callable[[], Any], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for this: {what}"
        await asyncio.sleep(0.01)


def running(store: Store) -> list[str]:
    """The tagged searches the store is running now (read through its writer's connection: the
    readers may all be busy with the reads looked for)."""
    sql = "SELECT query FROM system.processes WHERE startsWith(Settings['log_comment'], 'hlog-query:')"
    return [str(r[0]) for r in store.connection().query(sql).result_rows]


async def test_an_abandoned_search_stops_in_the_store(big_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facet_queries, "EXACT_ROWS", 10 * ROWS)  # every match read: a long query
    ended: list[BaseException | None] = []  # how each read of a request ended (None: it answered)
    read = big_store.query

    def watched(*args: Any, **kwargs: Any) -> Any:
        if QUERY_TAG.get() is None:  # not a request's read
            return read(*args, **kwargs)
        try:
            rows = read(*args, **kwargs)
        except BaseException as err:
            ended.append(err)
            raise
        ended.append(None)
        return rows

    monkeypatch.setattr(big_store, "query", watched)
    backend = Backend(big_store, ingest=False)
    async with in_process_http(backend) as http:
        whole = await http.get("/api/facets", params={"from": "30d"})
        assert whole.status_code == 200 and whole.json()["total"] == ROWS  # not abandoned, it ends
        assert not running(big_store) and None in ended and not any(ended)
        ended.clear()
        request = asyncio.ensure_future(http.get("/api/facets", params={"from": "30d", "q": "-level:debug"}))
        # its long read (the values; the count before it is quick, and may have answered)
        await until(
            lambda: any("ARRAY JOIN" in sql for sql in running(big_store)) or request.done(),
            "the search's long read reaches the store",
        )
        assert not request.done()
        request.cancel()  # what a worker of hlog-tui's does when the user moves on
        await until(lambda: not running(big_store), "the abandoned search ends in the store")
        await until(lambda: len(ended) == 2, "the abandoned read returns")
    # it was stopped by the store, not left to run to its end
    assert ended[0] is None and str(ended[1]) == "the search was cancelled", ended
    assert "QUERY_WAS_CANCELLED" in str(ended[1].__cause__)  # ClickHouse's word: it was told to stop it


def test_an_abandoned_requests_later_reads_are_refused(store: Store) -> None:
    """A request reads in several steps (a count, then the values): a step that starts after the
    request was abandoned does not run (the kill only reaches the reads running then)."""
    request = contextvars.copy_context()
    request.run(QUERY_TAG.set, uuid.uuid4().hex)
    assert [tuple(r) for r in request.run(store.query, "SELECT 1")] == [(1,)]
    store.cancel(request[QUERY_TAG] or "")
    with pytest.raises(StoreError, match="^the search was cancelled$"):
        request.run(store.query, "SELECT 2")
    assert [tuple(r) for r in store.query("SELECT 3")] == [(3,)]  # the others' reads go on


def test_a_read_waiting_for_a_connection_when_its_request_is_abandoned_is_refused(
    request: pytest.FixtureRequest, store_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that passed the door but waits for a free connection when its request is abandoned
    does not run once it gets one, and the cancel does not keep a connection while it waits."""
    monkeypatch.setattr(store_module, "READER_POOL_SIZE", 1)
    store = Store(store_dsn(request, store_kind, "t_" + uuid.uuid4().hex[:12]))
    try:
        holder, waiter = contextvars.copy_context(), contextvars.copy_context()
        holder.run(QUERY_TAG.set, uuid.uuid4().hex)
        waiter.run(QUERY_TAG.set, uuid.uuid4().hex)
        outcome: dict[str, Any] = {}

        def read(name: str, context: contextvars.Context, sql: str) -> None:
            try:
                outcome[name] = context.run(store.query, sql, reads_ingest=False)
            except StoreError as err:
                outcome[name] = str(err)

        long_read = "SELECT sleepEachRow(1) FROM numbers(300) SETTINGS max_block_size = 1"
        threads = [threading.Thread(target=read, args=("holder", holder, long_read))]
        threads[0].start()  # holds the only connection
        wait_for(lambda: running(store), "the long read runs")
        threads.append(threading.Thread(target=read, args=("waiter", waiter, "SELECT 1")))
        threads[1].start()
        wait_for(lambda: waits_for_a_connection(threads[1]), "the second read waits for the connection")
        cancelling = threading.Thread(target=store.cancel, args=(waiter[QUERY_TAG],))
        cancelling.start()
        store.cancel(holder[QUERY_TAG] or "")  # the connection is free again
        for thread in [*threads, cancelling]:
            thread.join(timeout=60)
            assert not thread.is_alive()
        assert outcome == {"holder": "the search was cancelled", "waiter": "the search was cancelled"}
    finally:
        store.close()
        drop_database(store.dsn)


def waits_for_a_connection(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "_reader":
            return True
        frame = frame.f_back
    return False


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

        with ask() as sock:
            answer = sock.makefile("rb").read()
        assert b" 200 " in answer.split(b"\r\n", 1)[0], answer[:300]  # not abandoned, it ends
        sock = ask()
        wait_for(lambda: running(store), "the search reaches the store", timeout=120)
        sock.close()  # the client goes away
        wait_for(lambda: not running(store), "the abandoned search ends in the store", timeout=120)
        store.command("SYSTEM FLUSH LOGS")
        ends = store.query(
            "SELECT log_comment, groupArray(exception_code) FROM system.query_log WHERE has(databases, {db:String})"
            " AND startsWith(log_comment, 'hlog-query:') AND type != 'QueryStart'"
            " GROUP BY log_comment ORDER BY min(event_time_microseconds)",
            {"db": store.db},
            reads_ingest=False,
        )
        # the first request's reads answered; the abandoned one's was stopped by the store (394:
        # QUERY_WAS_CANCELLED), not left to run to its end
        assert [sorted(codes) for _, codes in ends] == [[0] * len(ends[0][1]), [0] * (len(ends[1][1]) - 1) + [394]]
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
