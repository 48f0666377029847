"""`B`: the matches grouped by the values of the breakdown's field; Enter keeps one, `x` excludes it."""

from __future__ import annotations

from textual.widgets import OptionList

from hlog.backend.store import Store
from hlog.tui.screens.groups import GroupsScreen
from hlog.tui.screens.search import SearchScreen
from hlog.tui.widgets.log_table import LogTable
from tests.tui.conftest import option_lines, settle, until


async def test_groups_by_the_breakdown_field(shop_store: Store, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(shop_store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("B")  # no breakdown, no detail: says what to do
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        search = app.screen
        search.breakdown = "service_name"
        await pilot.press("B")
        await until(pilot, lambda: isinstance(app.screen, GroupsScreen), "the groups screen")
        screen = app.screen
        groups = screen.query_one("#ranked", OptionList)
        await until(pilot, lambda: groups.option_count == 3, "the three services")
        shown = option_lines(groups)
        # the shop: 41 worker logs, 2 gateway, 2 payments
        assert shown[0].split()[:2] == ["41", "91.1%"] and shown[0].endswith("worker")
        assert sorted(line.split()[-1] for line in shown[1:]) == ["gateway", "payments"]
        await pilot.press("x")  # exclude the workers
        await until(pilot, lambda: search.query_text == "-service_name:worker", "the exclusion")
        table = search.query_one("#logs", LogTable)
        await until(pilot, lambda: len(table.rows) == 4, "the other services' logs")
