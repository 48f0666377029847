"""Pilot tests of jumping from a log to its session and trace and back, and of live tail."""

from __future__ import annotations

import asyncio

from hlog.backend.store import Store
from hlog.tui.screens.search import SearchScreen
from hlog.tui.screens.session import SessionScreen
from hlog.tui.screens.trace import TraceScreen
from hlog.tui.timerange import Range
from hlog.tui.widgets.histogram import Histogram
from hlog.tui.widgets.log_table import LogTable
from tests.conftest import logs_request
from tests.tui.conftest import CHILD_SPAN, TRACE_CHECKOUT, ingest, settle


async def test_session_jump_and_back(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("j")  # payment declined, in sess-alice
        search = app.screen
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SessionScreen)
        summary = str(app.screen.query_one("#session-summary").render())
        assert "sess-alice" in summary and "user alice" in summary
        assert "3 logs" in summary and "gateway, payments" in summary
        assert "ERROR 2" in summary and "errors" not in summary  # the error count once
        footer = [str(key.render()) for key in app.screen.query("FooterKey")]
        assert sum("Next error" in k for k in footer) == 1  # one key for it in the footer
        table = app.screen.query_one("#session-logs", LogTable)
        # every log of the session across services, oldest first
        assert [r["body"] for r in table.rows] == [
            "GET /cart 200 in 12ms",
            "payment declined: card expired",
            "POST /checkout 502 in 840ms",
        ]
        assert table.selected["body"] == "payment declined: card expired"  # the log we came from
        await pilot.press("n")
        assert table.selected["body"] == "POST /checkout 502 in 840ms"
        await pilot.press("p")
        assert table.selected["body"] == "payment declined: card expired"
        requests = app.screen.query_one("#requests")
        assert requests.option_count == 1 and "POST /checkout" in str(requests.get_option_at_index(0).prompt)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is search
        assert search.query_one(LogTable).selected["body"] == "payment declined: card expired"


async def test_trace_jump_from_search_and_from_session(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("j", "t")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        spans = app.screen.query_one("#spans")
        prompts = [str(spans.get_option_at_index(i).prompt) for i in range(spans.option_count)]
        assert prompts[0] == "(whole trace)"
        assert prompts[1].startswith("POST /checkout") and "ERROR" in prompts[1]
        assert prompts[2].startswith("  POST /charge")  # indented under its parent
        assert spans.get_option_at_index(spans.highlighted).id == CHILD_SPAN  # the log's own span
        logs = app.screen.query_one(LogTable)
        assert [r["body"] for r in logs.rows] == ["payment declined: card expired"]
        events = app.screen.query_one("#span-events")
        assert events.display and "exception exception.type=CardDeclined" in str(events.render())
        await pilot.press("up")  # the root span
        await settle(pilot)
        assert [r["body"] for r in logs.rows] == ["POST /checkout 502 in 840ms"]
        assert not events.display  # it has no events
        await pilot.press("up")  # the whole trace
        await settle(pilot)
        assert [r["body"] for r in logs.rows] == ["payment declined: card expired", "POST /checkout 502 in 840ms"]
        assert TRACE_CHECKOUT in str(app.screen.query_one("#trace-summary").render())
        await pilot.press("escape")
        assert isinstance(app.screen, SearchScreen)
        # from the session screen too
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, SearchScreen)


async def test_live_tail_shows_new_logs(store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    import time

    ingest(store, logs_request([{"body": "before", "level": "INFO", "ts": time.time_ns() - 10**9}]))
    app = make_app(store, time_range=Range("1h"))
    app.clock = time.time_ns  # live tail is about real time
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(LogTable)
        assert [r["body"] for r in table.rows] == ["before"]
        await pilot.press("L")
        assert "LIVE" in str(app.screen.query_one("#status").render())
        ingest(store, logs_request([{"body": f"new {i}", "level": "INFO", "ts": time.time_ns()} for i in range(3)]))
        for _ in range(30):
            await asyncio.sleep(0.2)
            if len(table.rows) == 4:
                break
        assert [r["body"] for r in table.rows] == ["new 2", "new 1", "new 0", "before"]
        assert table.cursor == 0  # following: the newest stays selected
        # moving away pauses the view: new logs are counted, the selection stays
        await pilot.press("j")
        ingest(store, logs_request([{"body": "newer", "level": "INFO", "ts": time.time_ns()}]))
        for _ in range(30):
            await asyncio.sleep(0.2)
            if len(table.rows) == 5:
                break
        assert table.rows[0]["body"] == "newer" and table.selected["body"] == "new 1"
        assert "1 new" in str(app.screen.query_one("#status").render())
        await pilot.press("L")
        assert "LIVE" not in str(app.screen.query_one("#status").render())


async def test_backend_errors_are_shown_not_raised(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        shop_store.close()  # the store goes away under the running app
        await pilot.press("slash", *"level:error", "enter")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        assert any(
            "store" in str(n.message) or "unreachable" in str(n.message) or "✗" in str(n.message)
            for n in app._notifications
        ) or app.screen.query_one("#query-error").has_class("-shown")


async def test_a_clickhouse_server_that_dies_is_one_readable_line(tmp_path, make_app) -> None:  # type: ignore[no-untyped-def]
    """hlog-tui on a ClickHouse server: the server dies, the next search says which way it failed
    in one line, without the query's text or a URL."""
    from tests.clickhouse import ClickHouseServer
    from tests.tui.conftest import seed_shop

    server = ClickHouseServer(tmp_path / "clickhouse").start()
    store = Store(server.dsn("tui_outage"))
    try:
        seed_shop(store)
        app = make_app(store)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            server.kill()
            await pilot.press("slash", *"secretword", "enter")
            error = app.screen.query_one("#query-error")
            for _ in range(100):
                await settle(pilot)
                line = str(error.render())
                if "unreachable" in line:
                    break
            assert line == "✗ the store is unreachable (connection refused)", line
            assert isinstance(app.screen, SearchScreen)
    finally:
        store.close()
        server.stop()


async def test_live_tail_keeps_the_start_of_a_range_and_the_histogram_follows(store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    import time

    now = time.time_ns()
    ingest(store, logs_request([{"body": "earlier", "level": "INFO", "ts": now - 1800 * 10**9}]))
    start, end = now - 3600 * 10**9, now - 600 * 10**9
    app = make_app(store, time_range=Range(None, start, end))
    app.clock = time.time_ns
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("L")
        # said at once (before a busy machine's settling outlasts the message)
        assert any("the range now runs from" in str(n.message) for n in app._notifications)
        await settle(pilot)
        screen = app.screen
        assert (screen.range.start_ns, screen.range.end_ns) == (start, None)  # the start kept, open to now
        histogram = screen.query_one(Histogram)
        assert histogram.data is not None and histogram.data["total"] == 1
        ingest(store, logs_request([{"body": f"new {i}", "level": "ERROR", "ts": time.time_ns()} for i in range(4)]))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and histogram.data["total"] != 5:
            await asyncio.sleep(0.2)
        assert histogram.data["total"] == 5
        await pilot.press("Z")  # back to the range as it was
        await settle(pilot)
        assert (screen.range.start_ns, screen.range.end_ns) == (start, end)
