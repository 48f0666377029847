"""Ctrl+S saves the search as a view, `v` opens one, `--view NAME` starts on one."""

from __future__ import annotations

from hlog.backend.store import Store
from hlog.backend.views import View, ViewStore
from hlog.tui.screens.search import SearchScreen
from hlog.tui.screens.views import SaveViewScreen, ViewsScreen
from hlog.tui.widgets.histogram import Histogram
from hlog.tui.widgets.log_table import LogTable
from tests.tui.conftest import settle, until


async def test_save_a_view_then_open_it(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store, query="level:error")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SaveViewScreen), "the name prompt")
        await pilot.press(*"bad/name", "enter")  # refused, said under the field
        await settle(pilot)
        assert "letters, digits" in str(app.screen.query_one("#view-error").render())
        await pilot.press(*["backspace"] * 8, *"errors", "enter")
        await until(pilot, lambda: ViewStore(shop_store).get("errors") is not None, "the view in the store")
        saved = ViewStore(shop_store).get("errors")
        assert saved is not None and (saved.query, saved.since) == ("level:error", "24h")
        search = app.screen
        assert isinstance(search, SearchScreen)
        search.query_text = "heartbeat"  # another search meanwhile
        search.run_search()
        await settle(pilot)
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, ViewsScreen), "the list of views")
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(app.screen, SearchScreen) and search.query_text == "level:error", "the view"
        )
        table = search.query_one("#logs", LogTable)
        await until(pilot, lambda: table.rows and all(r["level"] == "ERROR" for r in table.rows), "its logs")


async def test_hlog_tui_view_starts_on_a_saved_view(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    ViewStore(shop_store).save(
        View("workers", query="service_name:worker", since="7d", columns=["time", "attr:card"], by="level")
    )
    app = make_app(shop_store, open_view="workers")
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SearchScreen), "the search screen")
        search = app.screen
        table = search.query_one("#logs", LogTable)
        await until(
            pilot, lambda: search.query_text == "service_name:worker" and len(table.rows) == 41, "the view's logs"
        )
        assert [c.key for c in table.columns] == ["time", "attr:card"] and search.range.preset == "7d"
        histogram = search.query_one(Histogram)
        await until(pilot, lambda: histogram.data and histogram.data.get("by") == "level", "the breakdown by level")


async def test_hlog_tui_view_of_no_view_says_so(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    missing = make_app(shop_store, open_view="nope")
    async with missing.run_test(size=(120, 36)) as pilot:
        await until(
            pilot, lambda: any("no saved view 'nope'" in n.message for n in missing._notifications), "the error"
        )


async def test_V_copies_a_link_to_the_search_and_its_range(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    from hlog.backend.permalink import parse_link
    from hlog.tui.timerange import Range

    app = make_app(shop_store, query='level:error "card expired"')
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("V")
        link = parse_link(app.clipboard)
        assert (link.log_id, link.query, link.since, link.start_ns) == (None, 'level:error "card expired"', "24h", None)
        search = app.screen
        assert isinstance(search, SearchScreen)
        search.range = Range(None, 1_700_000_000 * 10**9, 1_700_003_600 * 10**9)
        await pilot.press("V")
        link = parse_link(app.clipboard)
        assert (link.since, link.start_ns, link.end_ns) == (None, 1_700_000_000 * 10**9, 1_700_003_600 * 10**9)
