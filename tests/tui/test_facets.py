"""`F`: the top values of each field among the matches; Enter filters to one, `x` excludes it."""

from __future__ import annotations

from hlog.backend.store import Store
from hlog.tui.widgets.facets import FacetPanel
from hlog.tui.widgets.log_table import LogTable
from tests.tui.conftest import option_lines, settle, until


async def test_facets_panel_filters_and_excludes(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("F")
        panel = app.screen.query_one(FacetPanel)
        await until(pilot, lambda: panel.option_count > 1, "the facets")
        assert panel.has_focus
        shown = option_lines(panel)
        assert shown[0] == "level" and "service_name" in shown
        # the shop: 41 worker logs (40 DEBUG heartbeats, one WARN), 2 gateway, 2 payments
        at = shown.index("service_name")
        assert shown[at + 1].split()[:2] == ["worker", "91%"]
        assert panel.border_subtitle == "45 logs"
        assert panel.picked() == ("level", "DEBUG")  # the first value, highlighted: 40 heartbeats
        await pilot.press("j")  # then ERROR (2, before INFO's 2 by name)
        key_value = panel.picked()
        assert key_value == ("level", "ERROR")
        await pilot.press("x")  # exclude that level
        table = app.screen.query_one("#logs", LogTable)
        await until(pilot, lambda: app.screen.query_text == "-level:ERROR", "the exclusion in the query")
        await until(pilot, lambda: table.rows and all(r["level"] != "ERROR" for r in table.rows), "the logs without it")
        await until(
            pilot, lambda: "level" in option_lines(panel) and panel.border_subtitle != "loading…", "the facets again"
        )
        assert not any(line.split()[:1] == ["ERROR"] for line in option_lines(panel))
        assert panel.border_subtitle == "43 logs"
        panel.focus()
        panel.highlighted = option_lines(panel).index("service_name") + 1
        await pilot.press("enter")
        await until(pilot, lambda: "service_name:" in app.screen.query_text, "the filter in the query")
        await pilot.press("F")  # closes it
        await settle(pilot)
        assert not panel.display and table.has_focus
