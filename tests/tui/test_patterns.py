"""`P`: the matches grouped into patterns; Enter searches one pattern's logs, `c` compares."""

from __future__ import annotations

from textual.widgets import OptionList, Static

from hlog.backend.store import Store
from hlog.tui.screens.patterns import PatternsScreen, growth_text
from hlog.tui.widgets.log_table import LogTable
from tests.tui.conftest import option_lines, settle, until


async def test_patterns_screen_filters_to_a_pattern(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, PatternsScreen), "the patterns screen")
        screen = app.screen
        patterns = screen.query_one("#ranked", OptionList)
        await until(pilot, lambda: screen.found is not None, "the patterns")
        shown = option_lines(patterns)
        # the shop: 40 heartbeats (one pattern), then the five other messages, one each
        assert shown[0].split()[:2] == ["40", "88.9%"] and shown[0].endswith("heartbeat <*>")
        assert len(shown) == 6
        assert all("\x1b" not in line and "\u202e" not in line for line in shown)  # the evil log, escaped
        evil = next(line for line in shown if "evil" in line)
        assert "\\x1b" in evil
        summary = str(screen.query_one("#ranked-summary", Static).render())
        assert "45 logs" in summary and "6 patterns" in summary and "every match counted" in summary
        await pilot.press("c")  # compared with the day before: the shop's logs are all new
        await until(pilot, lambda: "compared" in str(screen.query_one("#ranked-summary", Static).render()), "compare")
        await until(pilot, lambda: screen.found is not None and screen.found["compare"] is not None, "compare")
        assert option_lines(patterns)[0].split()[2] == "new"
        await pilot.press("enter")  # the heartbeats
        table = app.screen.query_one("#logs", LogTable)
        await until(pilot, lambda: app.screen.query_text.startswith("message:/"), "the pattern in the query")
        await until(pilot, lambda: len(table.rows) == 40, "the heartbeats")
        assert all(r["body"].startswith("heartbeat ") for r in table.rows)


async def test_escape_leaves_the_search_as_it_was(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store, query="level:error")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, PatternsScreen), "the patterns screen")
        screen = app.screen
        await until(pilot, lambda: screen.found is not None, "the patterns")
        assert screen.found["total"] == 2  # the two errors
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PatternsScreen), "the search again")
        assert app.screen.query_text == "level:error"


def test_growth_fits_six_cells() -> None:
    assert [growth_text(g) for g in (0.5, 2.34, 45.2, 1700.4, 25_300)] == ["x0.5", "x2.3", "x45", "x1,700", "x25k"]
