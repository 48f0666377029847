"""`C`: the logs around the selected one, whatever the search; keys change the scope."""

from __future__ import annotations

from hlog.backend.permalink import log_link, parse_link
from hlog.backend.search import LogSearch, TimeRange
from hlog.backend.store import Store
from hlog.tui.screens.context import ANCHOR_MARK, MATCH_MARK, ContextScreen
from hlog.tui.screens.search import SearchScreen
from hlog.tui.widgets.detail import DetailPane
from hlog.tui.widgets.log_table import LogTable
from tests.tui.conftest import settle, until

# the worker service's logs, oldest first: heartbeats a minute apart, the evil one between 4 and 3
WORKER = [f"heartbeat {i}" for i in range(39, 3, -1)] + ["evil"] + [f"heartbeat {i}" for i in range(3, -1, -1)]


def short(log: dict) -> str:  # type: ignore[type-arg]
    return "evil" if log["body"].startswith("evil") else log["body"]


async def test_context_around_a_log_then_other_scopes(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store, query="heartbeat")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#logs", LogTable)
        await until(pilot, lambda: table.rows, "the search's logs")
        table.cursor = [r["body"] for r in table.rows].index("heartbeat 10")
        await pilot.press("C")
        assert isinstance(app.screen, ContextScreen)
        context = app.screen.query_one("#context-logs", LogTable)
        # the 20 before it come first, then the rest of the older ones by keyset as the cursor is near the top
        await until(pilot, lambda: len(context.rows) == len(WORKER), "every log of the worker service")
        assert [short(r) for r in context.rows] == WORKER  # oldest first, ignoring the search
        assert context.selected["body"] == "heartbeat 10"
        marks = {short(r): r["mark"] for r in context.rows}
        assert marks["heartbeat 10"] == ANCHOR_MARK and marks["heartbeat 11"] == MATCH_MARK and marks["evil"] == ""
        summary = str(app.screen.query_one("#context-summary").render())
        assert "the same service" in summary and "service_name worker" in summary and "matches heartbeat" in summary
        await pilot.press("a")  # every service: the shop's logs came after it
        await until(pilot, lambda: len(context.rows) == len(WORKER) + 4, "the logs of every service")
        assert [short(r) for r in context.rows][-4:] == [
            "charge authorised",
            "GET /cart 200 in 12ms",
            "payment declined: card expired",
            "POST /checkout 502 in 840ms",
        ]
        assert context.selected["body"] == "heartbeat 10"
        assert "every service" in str(app.screen.query_one("#context-summary").render())
        await pilot.press("s")  # it has no session: said, and what is shown stays
        await until(pilot, lambda: any("no session_id" in n.message for n in app._notifications), "the warning")
        assert len(context.rows) == len(WORKER) + 4
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen.query_one(DetailPane)
        assert f"log id = {context.selected['log_id']}" in detail.plain_rows()
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)


async def test_a_log_link_opens_in_its_context_and_y_copies_it(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    [log] = LogSearch(shop_store).page('"heartbeat 7"', TimeRange(), 1).logs
    link = log_link(log["log_id"])
    app = make_app(shop_store, open_log=parse_link(link).log_id)  # what hlog-tui open LINK starts
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ContextScreen), "the context screen")
        context = app.screen.query_one("#context-logs", LogTable)
        await until(pilot, lambda: context.rows, "the logs around it")
        assert context.selected["body"] == "heartbeat 7" and context.selected["mark"] == ANCHOR_MARK
        await pilot.press("j", "Y")  # the link to the next one
        assert app.clipboard == log_link(context.selected["log_id"]) and context.selected["body"] == "heartbeat 6"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen), "the search under it")
        table = app.screen.query_one("#logs", LogTable)
        await until(pilot, lambda: table.rows, "the search's logs")
        await pilot.press("Y")
        assert app.clipboard == log_link(table.selected["log_id"])
